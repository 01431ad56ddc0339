"""Fixtures shared across the project's test modules (each one costs a real run: start it once),
and the hooks that spread the whole suite over every core (tests/parallel.py)."""

from tests.certificates import certified
from tests.clean_run import clean_run
from tests.parallel import pytest_cmdline_main, pytest_collection_modifyitems, pytest_xdist_make_scheduler

__all__ = [
    "certified",
    "clean_run",
    "pytest_cmdline_main",
    "pytest_collection_modifyitems",
    "pytest_xdist_make_scheduler",
]
