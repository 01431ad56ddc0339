"""Real redeem answers and callback requests for the table-driven check tests, built without a server.

Observations are real :class:`Exchange` / :class:`ReceivedRequest` objects built directly, so the
judging logic is tested apart from the reference server that shares its authors' reading of the
documents. A row runs one check and names the outcome it expects: ``n/a`` (the check returned
NotApplicable, never an empty list), ``pass``, ``warn`` or ``fail``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest

from conformance.checks import CHECKS
from conformance.model.exchange import Exchange, RecordedResponse
from conformance.model.finding import Finding, NotApplicable
from conformance.parse import redeem as pr
from conformance.transport.receiver import ReceivedRequest

TOKEN = "a" * 40
PHOTO = "7"
RETURN_URL = "https://app.example.com/cb?theme=green&state=" + quote("a&b=c+d %41#x", safe="")
OWN = [("theme", "green"), ("state", "a&b=c+d %41#x")]
SUCCESS = [("domain", "v.example"), ("replace_token", TOKEN), ("photo_id", PHOTO), ("tree_id", "9")]
SUCCESS += [("token", "pt")]
EXTRA = [("note", "x&y=z+1 50%#top"), ("empty", "")]


def exchange(
    status: int | None, body: str | bytes = b"", headers: list[tuple[str, str]] | None = None
) -> Exchange:
    """A real recorded exchange of a redeem POST; ``status=None`` is a transport error."""
    ex = Exchange(1, None, "POST", "http://t.example/api/photo/redeem-replace-token", [], "", 0.0)
    if status is None:
        ex.error = "connection refused"
        return ex
    data = body.encode() if isinstance(body, str) else body
    ex.response = RecordedResponse(status, "", headers or [], data)
    return ex


def answer(
    status: int | None, body: str | bytes = b"", headers: list[tuple[str, str]] | None = None
) -> pr.RedeemAnswer:
    return pr.read_redeem_answer(exchange(status, body, headers))


def redirect(params: list[tuple[str, str]], base: str = RETURN_URL, status: int = 301) -> pr.RedeemAnswer:
    """A redirect to ``base`` with ``params`` appended, properly URL-encoded."""
    return answer(status, "", [("Location", f"{base}&{urlencode(params)}")])


def raw_redirect(location: str) -> pr.RedeemAnswer:
    return answer(301, "", [("Location", location)])


def text(body: str, status: int = 200, ctype: str = "text/plain; charset=utf-8") -> pr.RedeemAnswer:
    return answer(status, body, [("Content-Type", ctype)])


def form(params: list[tuple[str, str]], action: str = RETURN_URL, method: str = "post") -> pr.RedeemAnswer:
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{v.replace("&", "&amp;").replace(chr(34), "&quot;")}">'
        for k, v in params
    )
    page = (
        f'<html><body><form method="{method}" action="{action.replace("&", "&amp;")}">{inputs}'
        '<input type="submit" value="Continue"></form></body></html>'
    )
    return answer(200, page, [("Content-Type", "text/html")])


def received(target: str, method: str = "GET") -> ReceivedRequest:
    return ReceivedRequest(method, target, (), b"", 0.0, "127.0.0.1")


def ok_line(callback_url: str, photo: str = PHOTO) -> pr.RedeemAnswer:
    return text(f"ok v.example 9 {photo} pt {callback_url}")


CB_PATH = "/conformance-callback/k1"
CB_URL = "http://127.0.0.1:5000" + CB_PATH
BG_QUERY = urlencode([*OWN, *SUCCESS, *EXTRA])


Outcome = list[Finding] | NotApplicable


def outcome(findings: Outcome) -> str:
    """'n/a' (did not apply), 'pass' (nothing found), 'warn' (warnings only) or 'fail' (an error)."""
    if isinstance(findings, NotApplicable):
        return "n/a"
    if not findings:
        return "pass"
    return "fail" if any(f.severity == "error" for f in findings) else "warn"


Row = tuple[str, Callable[[], Outcome], str, str]  # id, run the check, expected outcome, message part


def rows(*cases: Row) -> list[object]:
    return [pytest.param(run, expected, part, id=name) for name, run, expected, part in cases]


COMPOSED = {
    "check_redeem_answered": {"check_no_server_error"},
    "check_background_error": {"check_plain_error"},
}
"""Checks that report the findings of the checks they are made of under those checks' names."""


def judge(name: str, run: Callable[[], Outcome], expected: str, part: str) -> None:
    """Run a row of check ``name``: the expected outcome, reported under that check's exact name and
    title (or, for a check made of others, theirs)."""
    assert name in CHECKS, name
    findings = run()
    assert outcome(findings) == expected, findings
    if isinstance(findings, NotApplicable):
        assert findings.check == name and findings.reason
        return
    names = {name} | COMPOSED.get(name, set())
    assert all(f.check in names and f.title == CHECKS[f.check].title for f in findings), findings
    assert all(not f.requirement for f in findings)  # the suite test binds the requirement
    if part:
        assert any(part in f.message for f in findings), [f.message for f in findings]


def renamed(name: str) -> list[tuple[str, str]]:
    return [(name if k == "replace_token" else k, v) for k, v in SUCCESS]


ERROR = [("domain", "v.example"), ("replace_token", TOKEN), ("error_message", "No file & no luck")]
