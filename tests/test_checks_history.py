"""Table-driven tests of the history checks (conformance/checks/history.py): the optional evidence of
a reference-style /_test/photo hook, and NotApplicable without one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks import history as hi
from conformance.parse import redeem as pr
from tests.redeem_answers import SUCCESS, Outcome, judge, redirect, rows

# ------------------------------------------------------------------ history (optional test-hook evidence)
_BEFORE = pr.PhotoHistory("1", "t0", ("s1",))
_AFTER = pr.PhotoHistory("9", "pt", ("s1", "s2"))


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        (
            "replaced",
            lambda: hi.check_history_replaced(_BEFORE, _AFTER, ["s2"], redirect(SUCCESS)),
            "pass",
            "",
        ),
        (
            "nothing-stored",
            lambda: hi.check_history_replaced(_BEFORE, _BEFORE, ["s2"]),
            "fail",
            "do not match",
        ),
        (
            "other-file",
            lambda: hi.check_history_replaced(_BEFORE, _AFTER, ["s3"]),
            "fail",
            "do not match",
        ),
        (
            "callback-ids-differ",
            lambda: hi.check_history_replaced(
                _BEFORE, pr.PhotoHistory("8", "zz", ("s1", "s2")), ["s2"], redirect(SUCCESS)
            ),
            "fail",
            "tree_id/token",
        ),
        ("n/a-no-hook", lambda: hi.check_history_replaced(None, None, ["s2"]), "n/a", ""),
    ),
)
def test_check_history_replaced(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_history_replaced", run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("unchanged", lambda: hi.check_history_unchanged(_BEFORE, _BEFORE), "pass", ""),
        ("replaced", lambda: hi.check_history_unchanged(_BEFORE, _AFTER), "fail", "do not match"),
        ("n/a-no-hook", lambda: hi.check_history_unchanged(_BEFORE, None), "n/a", ""),
    ),
)
def test_check_history_unchanged(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_history_unchanged", run, expected, part)
