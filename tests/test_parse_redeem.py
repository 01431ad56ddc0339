"""Reading redeem answers (conformance/parse/redeem.py): redirect, form, plain text, background line."""

from __future__ import annotations

import pytest

from conformance.model.exchange import Exchange
from conformance.parse import redeem as pr
from tests.redeem_answers import SUCCESS, answer, exchange, redirect, text


# ------------------------------------------------------------------ read_redeem_answer
@pytest.mark.parametrize(
    ("ex", "kind", "params"),
    [
        pytest.param(
            exchange(302, "", [("Location", "https://a.example/cb?x=a%26b&domain=d")]),
            "redirect",
            [("x", "a&b"), ("domain", "d")],
            id="redirect-decodes-the-query",
        ),
        pytest.param(
            exchange(200, '<form method=POST action="/cb"><input name="a" value="&lt;1&gt;"></form>'),
            "form",
            [("a", "<1>")],
            id="form-inputs-unescaped",
        ),
        pytest.param(exchange(200, "Invalid token"), "text", [], id="plain-text"),
        pytest.param(exchange(301, "moved"), "other", [], id="redirect-without-location"),
        pytest.param(
            exchange(200, "ok", [("Location", "https://a/?x=1")]), "text", [], id="200-location-ignored"
        ),
        pytest.param(exchange(None), "none", [], id="no-response"),
    ],
)
def test_read_redeem_answer(ex: Exchange, kind: str, params: list[tuple[str, str]]) -> None:
    got = pr.read_redeem_answer(ex)
    assert (got.kind, got.params) == (kind, params)
    assert got.describe()


def test_read_redeem_answer_outcomes() -> None:
    assert redirect(SUCCESS).outcome == "success"
    assert redirect([*SUCCESS[:2], ("error_message", "bad")]).outcome == "error"
    assert (text("ok d 1 2 t http://x/").outcome, text("Invalid").outcome) == ("success", "error")
    assert answer(None).outcome == "unclear"


# ------------------------------------------------------------------ background mode
@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("ok d 9 7 pt http://r/cb?x=1\n", pr.BackgroundLine("d", "9", "7", "pt", "http://r/cb?x=1")),
        ("ok d 9 7 pt", None),
        ("ok d 9 7 pt http://r/cb?x=a b", None),
        ("error ok d 9 7 pt", None),
        ("OK d 9 7 pt u", None),
    ],
)
def test_parse_background_ok(line: str, parsed: pr.BackgroundLine | None) -> None:
    assert pr.parse_background_ok(line) == parsed
