"""Test records -> requirement verdicts -> ``results.json``, the source every report is rendered from.

:mod:`.verdicts` folds records into verdicts, :mod:`.document` builds and writes the document,
:mod:`.samples` keeps the replayable requests of passing tests. No pytest, no templates: plain data.
"""
