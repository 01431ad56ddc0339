"""Reports rendered from ``results.json``: the HTML report, reproduction commands, and run diffs.

Everything here reads the results dict only (never the live run), so a report can be rebuilt or
compared long after the run, and the console and the HTML show the same evidence.
"""
