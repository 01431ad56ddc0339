"""Conformance suite for the TwentyThree /api/photo/get-replace-token method family."""

__version__ = "0.1.0"
