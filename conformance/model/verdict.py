"""The verdicts, as enums: what a run concluded, and what a requirement's (or a test's) record says.

Both are ``StrEnum``: a member is its own string, as results.json, JUnit and the console show it,
so documents written before the enums read the same.
"""

from __future__ import annotations

from enum import StrEnum


class RunVerdict(StrEnum):
    """The run's verdict (README, "Verdicts and exit codes")."""

    CONFORMANT = "CONFORMANT"
    NOT_CONFORMANT = "NOT CONFORMANT"
    INCOMPLETE = "INCOMPLETE"
    INTERRUPTED = "INTERRUPTED"
    UNREACHABLE = "UNREACHABLE"
    STOPPED = "STOPPED"  # the preflight stopped the run (a user's mistake): no verdict on the target


class Verdict(StrEnum):
    """A requirement's verdict, folded from the records of its tests (each record has one too)."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    BLOCKED = "blocked"  # its test failed on another requirement first
    SKIP = "skip"
    UNTESTED = "untested"  # no suite test verifies it in this run
    NOT_JUDGED = "not-judged"  # its test passed, but none of its checks applied to any answer
    NOT_RUN = "not-run"  # deselected, interrupted, or cut off by the budget or the deadline
    NOT_IN_PROFILE = "not-in-profile"
