"""Fixtures shared across the project's test modules (each one costs a real run: start it once)."""

from tests.certificates import certified
from tests.clean_run import clean_run

__all__ = ["certified", "clean_run"]
