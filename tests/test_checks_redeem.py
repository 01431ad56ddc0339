"""Table-driven tests of the redeem answer checks (conformance/checks/redeem.py), without any server.

Each check gets a passing answer, a failing one and a not-applicable one where the check has such
a case; where it has none, a row shows that the wrong kind of answer fails rather than passing
unnoticed. The answers are built in tests/redeem_answers.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks import background as bg
from conformance.checks import callback as cb
from conformance.checks import history as hi
from conformance.checks import redeem as rc
from conformance.checks.registry import CHECKS
from tests.redeem_answers import RETURN_URL, SUCCESS, Outcome, answer, form, judge, redirect, rows, text


# ------------------------------------------------------------------ check_redeem_answered
@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("plain-error", lambda: rc.check_redeem_answered(text("Invalid replace token")), "pass", ""),
        ("redirect", lambda: rc.check_redeem_answered(redirect(SUCCESS)), "pass", ""),
        (
            "warning-wording-in-plain-text",
            lambda: rc.check_redeem_answered(text("Warning: token expired")),
            "pass",
            "",
        ),
        ("no-response", lambda: rc.check_redeem_answered(answer(None)), "fail", "no HTTP response"),
        ("http-500", lambda: rc.check_redeem_answered(text("oops", 500)), "fail", "HTTP 500"),
        (
            "python-traceback",
            lambda: rc.check_redeem_answered(text('Traceback (most recent call last):\n  File "x"')),
            "fail",
            "stack trace",
        ),
        (
            "php-warning-in-plain-text",
            lambda: rc.check_redeem_answered(text("Warning: fopen(): failed in /var/www/up.php on line 12")),
            "fail",
            "'Warning: '",
        ),
        (
            "warning-in-an-html-page",
            lambda: rc.check_redeem_answered(text("<html><body>Warning: x</body></html>", ctype="text/html")),
            "fail",
            "'Warning: '",
        ),
    ),
)
def test_check_redeem_answered(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_redeem_answered", run, expected, part)


# ------------------------------------------------------------------ check_redirect / check_form_post
_LONG = [*SUCCESS, ("pad", "p" * 1600)]


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("301", lambda: rc.check_redirect(redirect(SUCCESS)), "pass", ""),
        ("302", lambda: rc.check_redirect(redirect(SUCCESS, status=302)), "pass", ""),
        ("307-re-posts", lambda: rc.check_redirect(redirect(SUCCESS, status=307)), "warn", "HTTP 307"),
        ("form-instead", lambda: rc.check_redirect(form(SUCCESS)), "fail", "expected an HTTP redirect"),
        ("3xx-without-location", lambda: rc.check_redirect(answer(301, "moved")), "fail", "redirect"),
    ),
)
def test_check_redirect(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_redirect", run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("post-form", lambda: rc.check_form_post(form(_LONG), RETURN_URL), "pass", ""),
        (
            "get-form",
            lambda: rc.check_form_post(form(_LONG, method="get"), RETURN_URL),
            "fail",
            "method",
        ),
        (
            "elsewhere",
            lambda: rc.check_form_post(form(_LONG, action="https://other.example/cb"), RETURN_URL),
            "fail",
            "not addressed",
        ),
        (
            "long-get-redirect",
            lambda: rc.check_form_post(redirect(_LONG), RETURN_URL),
            "fail",
            "GET redirect",
        ),
        ("plain-text", lambda: rc.check_form_post(text("OK"), RETURN_URL), "fail", "must be a POST"),
    ),
)
def test_check_form_post(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_form_post", run, expected, part)


# ------------------------------------------------------------------ check_plain_ok / check_plain_error
@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("ok-text", lambda: rc.check_plain_ok(text("OK")), "pass", ""),
        ("any-wording", lambda: rc.check_plain_ok(text("Upload complete")), "pass", ""),
        ("html-page", lambda: rc.check_plain_ok(text("<html><body>Done</body></html>")), "fail", "HTML"),
        ("redirect", lambda: rc.check_plain_ok(redirect(SUCCESS)), "fail", "expected a plain HTTP 200"),
        ("http-201", lambda: rc.check_plain_ok(text("OK", 201)), "fail", "HTTP 201"),
    ),
)
def test_check_plain_ok(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_plain_ok", run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("plain", lambda: rc.check_plain_error(text("Invalid replace token")), "pass", ""),
        ("warning-wording", lambda: rc.check_plain_error(text("Warning: token expired")), "pass", ""),
        ("background", lambda: rc.check_plain_error(text("error expired"), background=True), "pass", ""),
        ("empty", lambda: rc.check_plain_error(text("")), "fail", "empty"),
        ("styled", lambda: rc.check_plain_error(text("<p>Invalid</p>")), "fail", "styled HTML"),
        ("says-ok", lambda: rc.check_plain_error(text("ok d 1 2 t u")), "fail", "reports success"),
        (
            "background-unprefixed",
            lambda: rc.check_plain_error(text("expired"), background=True),
            "fail",
            "error <message>",
        ),
        ("redirect", lambda: rc.check_plain_error(redirect(SUCCESS)), "fail", "success-looking"),
        ("http-403", lambda: rc.check_plain_error(text("Invalid", 403)), "warn", "HTTP 403"),
        ("label", lambda: rc.check_plain_error(text("Invalid", ctype="text/html")), "warn", "text/html"),
    ),
)
def test_check_plain_error(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_plain_error", run, expected, part)


# ------------------------------------------------------------------ check_success_count
_OK, _NO = redirect(SUCCESS), text("This replace token has been used up")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("exact", lambda: rc.check_success_count([_OK, _NO, _OK], 2), "pass", ""),
        ("too-many", lambda: rc.check_success_count([_OK, _OK, _NO], 1), "fail", "2 of 3"),
        ("too-few", lambda: rc.check_success_count([_NO, _NO], 1), "fail", "0 of 2"),
        ("n/a-nothing-fired", lambda: rc.check_success_count([], 0), "pass", ""),
    ),
)
def test_check_success_count(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_success_count", run, expected, part)


def test_every_redeem_check_is_registered_with_a_title() -> None:
    """The names results.json and replay commands use; each has a stable title for its findings."""
    modules = (rc, cb, bg, hi)
    own = {
        n: f
        for m in modules
        for n, f in vars(m).items()
        if n.startswith("check_") and f.__module__ == m.__name__
    }
    assert len(own) == 15
    assert all(CHECKS[n].func is f and CHECKS[n].title for n, f in own.items())
