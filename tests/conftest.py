"""Fixtures shared across the project's test modules (each one costs a real run: start it once)."""

from tests.certificates import certified

__all__ = ["certified"]
