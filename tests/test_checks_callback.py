"""Table-driven tests of the callback checks (conformance/checks/callback.py), without any server.

Each check gets a passing answer, a failing one and a not-applicable one where the check has such
a case; where it has none, a row shows that the wrong kind of answer fails rather than passing
unnoticed. The answers are built in tests/redeem_answers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest

from conformance.checks import callback as cb
from conformance.model.finding import Finding
from conformance.parse import redeem as pr
from tests.redeem_answers import (
    ERROR,
    EXTRA,
    OWN,
    PHOTO,
    RETURN_URL,
    SUCCESS,
    TOKEN,
    Outcome,
    form,
    judge,
    raw_redirect,
    redirect,
    renamed,
    rows,
    text,
)


# ------------------------------------------------------------------ token_problem
@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ([("replace_token", TOKEN)], None),
        ([("upload_token", TOKEN)], None),
        ([("domain", "d")], "lacks replace_token"),
        ([("replace_token", TOKEN), ("upload_token", TOKEN)], "names the token 2 times"),
        ([("replace_token", TOKEN), ("replace_token", TOKEN)], "names the token 2 times"),
        ([("upload_token", "other")], "upload_token in the callback is not the token redeemed"),
    ],
)
def test_token_problem(params: list[tuple[str, str]], problem: str | None) -> None:
    got = cb.token_problem(params, TOKEN)
    assert (got is None) if problem is None else (got is not None and problem in got)


# ------------------------------------------------------------------ check_success_callback
def _success(a: pr.RedeemAnswer) -> list[Finding]:
    return cb.check_success_callback(a, TOKEN, PHOTO)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("redirect", lambda: _success(redirect(SUCCESS)), "pass", ""),
        ("upload_token-name", lambda: _success(redirect(renamed("upload_token"))), "pass", ""),
        ("form", lambda: _success(form(SUCCESS)), "pass", ""),
        (
            "no-tree_id",
            lambda: _success(redirect([p for p in SUCCESS if p[0] != "tree_id"])),
            "fail",
            "tree_id",
        ),
        ("no-token-name", lambda: _success(redirect(renamed("rt"))), "fail", "lacks replace_token"),
        (
            "both-token-names",
            lambda: _success(redirect([*SUCCESS, ("upload_token", TOKEN)])),
            "fail",
            "names the token 2 times",
        ),
        (
            "wrong-token",
            lambda: cb.check_success_callback(redirect(SUCCESS), "b" * 40, PHOTO),
            "fail",
            "not the token",
        ),
        (
            "other-photo",
            lambda: cb.check_success_callback(redirect(SUCCESS), TOKEN, "8"),
            "fail",
            "photo_id",
        ),
        (
            "error_message",
            lambda: _success(redirect([*SUCCESS, ("error_message", "x")])),
            "fail",
            "reports an error",
        ),
        # Not applicable does not exist here: an answer that is no callback fails, it is never skipped.
        ("plain-text-is-no-callback", lambda: _success(text("OK")), "fail", "expected a success callback"),
    ),
)
def test_check_success_callback(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_success_callback", run, expected, part)


# ------------------------------------------------------------------ check_callback_keeps_return_url
def _keeps(a: pr.RedeemAnswer, return_url: str = RETURN_URL) -> Outcome:
    return cb.check_callback_keeps_return_url(a, return_url)


_REENCODED = "https://APP.example.com:443/cb?" + urlencode(OWN)  # '+' for spaces, host case, default port


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("kept", lambda: _keeps(redirect(SUCCESS)), "pass", ""),
        ("re-encoded", lambda: _keeps(redirect(SUCCESS, base=_REENCODED)), "pass", ""),
        ("form-action-keeps-query", lambda: _keeps(form(SUCCESS)), "pass", ""),
        (
            "form-inputs-carry-query",
            lambda: _keeps(form([*OWN, *SUCCESS], action="https://app.example.com/cb")),
            "pass",
            "",
        ),
        (
            "query-lost",
            lambda: _keeps(redirect(SUCCESS, base="https://app.example.com/cb?theme=green")),
            "fail",
            "state=",
        ),
        (
            "query-decoded-and-joined-raw",
            lambda: _keeps(
                raw_redirect("https://app.example.com/cb?theme=green&state=a&b=c+d %41#x&domain=d")
            ),
            "fail",
            "lost",
        ),
        (
            "other-address",
            lambda: _keeps(redirect(SUCCESS, base="https://evil.example/cb?" + urlencode(OWN))),
            "fail",
            "not addressed to return_url",
        ),
        ("n/a-plain-text", lambda: _keeps(text("Invalid token")), "n/a", ""),
    ),
)
def test_check_callback_keeps_return_url(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_callback_keeps_return_url", run, expected, part)


# ------------------------------------------------------------------ check_extra_fields_repeated
def _extra(a: pr.RedeemAnswer, extra: list[tuple[str, str]] = EXTRA) -> Outcome:
    return cb.check_extra_fields_repeated(a, extra)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("repeated", lambda: _extra(redirect([*SUCCESS, *EXTRA])), "pass", ""),
        ("repeated-in-a-form", lambda: _extra(form([*SUCCESS, *reversed(EXTRA)])), "pass", ""),
        (
            "repeated-names",
            lambda: _extra(redirect([("t", "a"), ("t", "b")]), [("t", "a"), ("t", "b")]),
            "pass",
            "",
        ),
        (
            "one-of-two-values",
            lambda: _extra(redirect([("t", "a")]), [("t", "a"), ("t", "b")]),
            "fail",
            "t='b'",
        ),
        ("dropped", lambda: _extra(redirect(SUCCESS)), "fail", "not repeated"),
        (
            "not-url-encoded",
            lambda: _extra(raw_redirect(f"{RETURN_URL}&{urlencode(SUCCESS)}&note=x&y=z+1 50%#top&empty=")),
            "fail",
            "note=",
        ),
        (
            "url-encoded-inside-a-form",
            lambda: _extra(form([*SUCCESS, ("note", quote(EXTRA[0][1], safe="")), ("empty", "")])),
            "fail",
            "note=",
        ),
        ("n/a-no-extra-fields", lambda: _extra(redirect(SUCCESS), []), "n/a", ""),
        ("n/a-plain-text", lambda: _extra(text("Invalid token")), "n/a", ""),
    ),
)
def test_check_extra_fields_repeated(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_extra_fields_repeated", run, expected, part)


# ------------------------------------------------------------------ check_error_callback


def _error(a: pr.RedeemAnswer) -> list[Finding]:
    return cb.check_error_callback(a, TOKEN)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("redirect", lambda: _error(redirect(ERROR)), "pass", ""),
        (
            "upload_token-name",
            lambda: _error(redirect([(k.replace("replace", "upload"), v) for k, v in ERROR])),
            "pass",
            "",
        ),
        ("form", lambda: _error(form(ERROR)), "pass", ""),
        ("no-error_message", lambda: _error(redirect(ERROR[:2])), "fail", "no error_message"),
        (
            "claims-success",
            lambda: _error(redirect([*ERROR, ("tree_id", "9")])),
            "fail",
            "success parameters",
        ),
        ("both-token-names", lambda: _error(redirect([*ERROR, ("upload_token", TOKEN)])), "fail", "2 times"),
        ("no-domain", lambda: _error(redirect(ERROR[1:])), "fail", "lacks domain"),
        ("plain-text-is-no-callback", lambda: _error(text("No file")), "fail", "expected an error callback"),
    ),
)
def test_check_error_callback(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_error_callback", run, expected, part)
