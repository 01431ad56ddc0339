"""Table-driven tests of the background-mode checks (conformance/checks/background.py): the ok
line, the callback that arrived at the receiver, the error line. No server: see tests/redeem_answers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from conformance.checks import background as bg
from conformance.parse import redeem as pr
from conformance.transport.receiver import ReceivedRequest
from tests.redeem_answers import (
    BG_QUERY,
    CB_PATH,
    CB_URL,
    ERROR,
    EXTRA,
    OWN,
    PHOTO,
    SUCCESS,
    TOKEN,
    Outcome,
    judge,
    ok_line,
    received,
    redirect,
    renamed,
    rows,
    text,
)

_BG_OK = ok_line(f"{CB_URL}?{BG_QUERY}")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("ok-line", lambda: bg.check_background_ok(_BG_OK, PHOTO), "pass", ""),
        ("other-photo", lambda: bg.check_background_ok(ok_line(CB_URL, "8"), PHOTO), "fail", "photo_id"),
        (
            "long-url",
            lambda: bg.check_background_ok(ok_line(CB_URL + "?p=" + "p" * 1500), PHOTO),
            "fail",
            "characters",
        ),
        (
            "not-an-ok-line",
            lambda: bg.check_background_ok(text("done"), PHOTO),
            "fail",
            "not an 'ok' line",
        ),
        ("redirect", lambda: bg.check_background_ok(redirect(SUCCESS), PHOTO), "fail", "plain text"),
    ),
)
def test_check_background_ok(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_background_ok", run, expected, part)


def _delivery(got: list[ReceivedRequest], a: pr.RedeemAnswer = _BG_OK) -> Outcome:
    given = CB_URL + "?" + urlencode(OWN)
    return bg.check_background_delivery(a, got, given, TOKEN, EXTRA)


_ARRIVED = received(f"{CB_PATH}?{BG_QUERY}")
_UPLOAD_NAMED = urlencode([*OWN, *renamed("upload_token"), *EXTRA])


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("arrived", lambda: _delivery([_ARRIVED]), "pass", ""),
        (
            "upload_token-name",
            lambda: _delivery([received(f"{CB_PATH}?{_UPLOAD_NAMED}")], ok_line(f"{CB_URL}?{_UPLOAD_NAMED}")),
            "pass",
            "",
        ),
        ("nothing-arrived", lambda: _delivery([]), "fail", "never requested return_url"),
        ("post", lambda: _delivery([received(f"{CB_PATH}?{BG_QUERY}", "POST")]), "fail", "used POST"),
        ("twice", lambda: _delivery([_ARRIVED, _ARRIVED]), "warn", "2 callbacks"),
        (
            "values-not-encoded",
            lambda: _delivery(
                [received(f"{CB_PATH}?theme=green&state=a&b=c+d %41#x&{urlencode(SUCCESS + EXTRA)}")]
            ),
            "fail",
            "missing",
        ),
        (
            "token-twice",
            lambda: _delivery([received(f"{CB_PATH}?{BG_QUERY}&upload_token={TOKEN}")]),
            "fail",
            "2 times",
        ),
        (
            "ok-line-disagrees",
            lambda: _delivery([_ARRIVED], ok_line(f"{CB_URL}?x=1")),
            "fail",
            "not the URL requested",
        ),
        ("n/a-error-line", lambda: _delivery([], text("error expired")), "n/a", ""),
    ),
)
def test_check_background_delivery(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_background_delivery", run, expected, part)


_BGERROR = received(f"{CB_PATH}?{urlencode([*OWN, *ERROR])}")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        (
            "error-line-and-callback",
            lambda: bg.check_background_error(text("error no file"), [_BGERROR]),
            "pass",
            "",
        ),
        (
            "no-callback",
            lambda: bg.check_background_error(text("error no file"), []),
            "warn",
            "no error callback",
        ),
        (
            "unprefixed",
            lambda: bg.check_background_error(text("no file"), [_BGERROR]),
            "fail",
            "error <message>",
        ),
        (
            "callback-without-error_message",
            lambda: bg.check_background_error(text("error no file"), [received(CB_PATH + "?domain=d")]),
            "fail",
            "no error_message",
        ),
        ("says-ok", lambda: bg.check_background_error(_BG_OK, [_ARRIVED]), "fail", "reports success"),
    ),
)
def test_check_background_error(run: Callable[[], Outcome], expected: str, part: str) -> None:
    judge("check_background_error", run, expected, part)
