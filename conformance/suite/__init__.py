"""The conformance suite: thin tests that send requests through ``api`` and judge with ``checks``."""
