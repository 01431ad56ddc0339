"""Table-driven unit tests of every check in conformance/redeem_checks.py, without any server.

Each check gets a passing observation, a failing one and a not-applicable one (where the check has
such a case; where it has none, the row shows that the wrong kind of answer fails rather than
passing unnoticed). Observations are real :class:`Exchange` / :class:`ReceivedRequest` objects
built directly, so the judging logic is tested apart from the reference server that shares its
authors' reading of the documents.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest

from conformance.checks import Finding
from conformance.checks import redeem as rc
from conformance.model.exchange import Exchange, RecordedResponse
from conformance.transport.receiver import ReceivedRequest

TOKEN = "a" * 40
PHOTO = "7"
RETURN_URL = "https://app.example.com/cb?theme=green&state=" + quote("a&b=c+d %41#x", safe="")
OWN = [("theme", "green"), ("state", "a&b=c+d %41#x")]
SUCCESS = [("domain", "v.example"), ("replace_token", TOKEN), ("photo_id", PHOTO), ("tree_id", "9")]
SUCCESS += [("token", "pt")]
EXTRA = [("note", "x&y=z+1 50%#top"), ("empty", "")]


# ------------------------------------------------------------------ building observations
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
) -> rc.RedeemAnswer:
    return rc.read_redeem_answer(exchange(status, body, headers))


def redirect(params: list[tuple[str, str]], base: str = RETURN_URL, status: int = 301) -> rc.RedeemAnswer:
    """A redirect to ``base`` with ``params`` appended, properly URL-encoded."""
    return answer(status, "", [("Location", f"{base}&{urlencode(params)}")])


def raw_redirect(location: str) -> rc.RedeemAnswer:
    return answer(301, "", [("Location", location)])


def text(body: str, status: int = 200, ctype: str = "text/plain; charset=utf-8") -> rc.RedeemAnswer:
    return answer(status, body, [("Content-Type", ctype)])


def form(params: list[tuple[str, str]], action: str = RETURN_URL, method: str = "post") -> rc.RedeemAnswer:
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


def ok_line(callback_url: str, photo: str = PHOTO) -> rc.RedeemAnswer:
    return text(f"ok v.example 9 {photo} pt {callback_url}")


CB_PATH = "/conformance-callback/k1"
CB_URL = "http://127.0.0.1:5000" + CB_PATH
BG_QUERY = urlencode([*OWN, *SUCCESS, *EXTRA])


def outcome(findings: list[Finding]) -> str:
    """'pass' (nothing found), 'warn' (warnings only) or 'fail' (at least one error)."""
    if not findings:
        return "pass"
    return "fail" if any(f.severity == "error" for f in findings) else "warn"


Row = tuple[str, Callable[[], list[Finding]], str, str]  # id, run the check, expected outcome, message part


def rows(*cases: Row) -> list[object]:
    return [pytest.param(run, expected, part, id=name) for name, run, expected, part in cases]


def judge(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    findings = run()
    assert outcome(findings) == expected, [f.message for f in findings]
    assert all(f.check for f in findings)
    if part:
        assert any(part in f.message for f in findings), [f.message for f in findings]


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
    got = rc.read_redeem_answer(ex)
    assert (got.kind, got.params) == (kind, params)
    assert got.describe()


def test_read_redeem_answer_outcomes() -> None:
    assert redirect(SUCCESS).outcome == "success"
    assert redirect([*SUCCESS[:2], ("error_message", "bad")]).outcome == "error"
    assert (text("ok d 1 2 t http://x/").outcome, text("Invalid").outcome) == ("success", "error")
    assert answer(None).outcome == "unclear"


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
    got = rc.token_problem(params, TOKEN)
    assert (got is None) if problem is None else (got is not None and problem in got)


# ------------------------------------------------------------------ check_redeem_answered
@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("plain-error", lambda: rc.check_redeem_answered(text("Invalid replace token"), "R"), "pass", ""),
        ("redirect", lambda: rc.check_redeem_answered(redirect(SUCCESS), "R"), "pass", ""),
        (
            "warning-wording-in-plain-text",
            lambda: rc.check_redeem_answered(text("Warning: token expired"), "R"),
            "pass",
            "",
        ),
        ("no-response", lambda: rc.check_redeem_answered(answer(None), "R"), "fail", "no HTTP response"),
        ("http-500", lambda: rc.check_redeem_answered(text("oops", 500), "R"), "fail", "HTTP 500"),
        (
            "python-traceback",
            lambda: rc.check_redeem_answered(text('Traceback (most recent call last):\n  File "x"'), "R"),
            "fail",
            "stack trace",
        ),
        (
            "php-warning-in-plain-text",
            lambda: rc.check_redeem_answered(
                text("Warning: fopen(): failed in /var/www/up.php on line 12"), "R"
            ),
            "fail",
            "'Warning: '",
        ),
        (
            "warning-in-an-html-page",
            lambda: rc.check_redeem_answered(
                text("<html><body>Warning: x</body></html>", ctype="text/html"), "R"
            ),
            "fail",
            "'Warning: '",
        ),
    ),
)
def test_check_redeem_answered(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_success_callback
def _success(a: rc.RedeemAnswer) -> list[Finding]:
    return rc.check_success_callback(a, TOKEN, PHOTO, "R")


def _renamed(name: str) -> list[tuple[str, str]]:
    return [(name if k == "replace_token" else k, v) for k, v in SUCCESS]


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("redirect", lambda: _success(redirect(SUCCESS)), "pass", ""),
        ("upload_token-name", lambda: _success(redirect(_renamed("upload_token"))), "pass", ""),
        ("form", lambda: _success(form(SUCCESS)), "pass", ""),
        (
            "no-tree_id",
            lambda: _success(redirect([p for p in SUCCESS if p[0] != "tree_id"])),
            "fail",
            "tree_id",
        ),
        ("no-token-name", lambda: _success(redirect(_renamed("rt"))), "fail", "lacks replace_token"),
        (
            "both-token-names",
            lambda: _success(redirect([*SUCCESS, ("upload_token", TOKEN)])),
            "fail",
            "names the token 2 times",
        ),
        (
            "wrong-token",
            lambda: rc.check_success_callback(redirect(SUCCESS), "b" * 40, PHOTO, "R"),
            "fail",
            "not the token",
        ),
        (
            "other-photo",
            lambda: rc.check_success_callback(redirect(SUCCESS), TOKEN, "8", "R"),
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
def test_check_success_callback(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_callback_keeps_return_url
def _keeps(a: rc.RedeemAnswer, return_url: str = RETURN_URL) -> list[Finding]:
    return rc.check_callback_keeps_return_url(a, return_url, "R")


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
        ("n/a-plain-text", lambda: _keeps(text("Invalid token")), "pass", ""),
    ),
)
def test_check_callback_keeps_return_url(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_extra_fields_repeated
def _extra(a: rc.RedeemAnswer, extra: list[tuple[str, str]] = EXTRA) -> list[Finding]:
    return rc.check_extra_fields_repeated(a, extra, "R")


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
        ("n/a-no-extra-fields", lambda: _extra(redirect(SUCCESS), []), "pass", ""),
        ("n/a-plain-text", lambda: _extra(text("Invalid token")), "pass", ""),
    ),
)
def test_check_extra_fields_repeated(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_redirect / check_form_post
_LONG = [*SUCCESS, ("pad", "p" * 1600)]


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("301", lambda: rc.check_redirect(redirect(SUCCESS), "R"), "pass", ""),
        ("302", lambda: rc.check_redirect(redirect(SUCCESS, status=302), "R"), "pass", ""),
        ("307-re-posts", lambda: rc.check_redirect(redirect(SUCCESS, status=307), "R"), "warn", "HTTP 307"),
        ("form-instead", lambda: rc.check_redirect(form(SUCCESS), "R"), "fail", "expected an HTTP redirect"),
        ("3xx-without-location", lambda: rc.check_redirect(answer(301, "moved"), "R"), "fail", "redirect"),
    ),
)
def test_check_redirect(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("post-form", lambda: rc.check_form_post(form(_LONG), RETURN_URL, "R"), "pass", ""),
        (
            "get-form",
            lambda: rc.check_form_post(form(_LONG, method="get"), RETURN_URL, "R"),
            "fail",
            "method",
        ),
        (
            "elsewhere",
            lambda: rc.check_form_post(form(_LONG, action="https://other.example/cb"), RETURN_URL, "R"),
            "fail",
            "not addressed",
        ),
        (
            "long-get-redirect",
            lambda: rc.check_form_post(redirect(_LONG), RETURN_URL, "R"),
            "fail",
            "GET redirect",
        ),
        ("plain-text", lambda: rc.check_form_post(text("OK"), RETURN_URL, "R"), "fail", "must be a POST"),
    ),
)
def test_check_form_post(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_plain_ok / check_plain_error
@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("ok-text", lambda: rc.check_plain_ok(text("OK"), "R"), "pass", ""),
        ("any-wording", lambda: rc.check_plain_ok(text("Upload complete"), "R"), "pass", ""),
        ("html-page", lambda: rc.check_plain_ok(text("<html><body>Done</body></html>"), "R"), "fail", "HTML"),
        ("redirect", lambda: rc.check_plain_ok(redirect(SUCCESS), "R"), "fail", "expected a plain HTTP 200"),
        ("http-201", lambda: rc.check_plain_ok(text("OK", 201), "R"), "fail", "HTTP 201"),
    ),
)
def test_check_plain_ok(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("plain", lambda: rc.check_plain_error(text("Invalid replace token"), "R"), "pass", ""),
        ("warning-wording", lambda: rc.check_plain_error(text("Warning: token expired"), "R"), "pass", ""),
        ("background", lambda: rc.check_plain_error(text("error expired"), "R", background=True), "pass", ""),
        ("empty", lambda: rc.check_plain_error(text(""), "R"), "fail", "empty"),
        ("styled", lambda: rc.check_plain_error(text("<p>Invalid</p>"), "R"), "fail", "styled HTML"),
        ("says-ok", lambda: rc.check_plain_error(text("ok d 1 2 t u"), "R"), "fail", "reports success"),
        (
            "background-unprefixed",
            lambda: rc.check_plain_error(text("expired"), "R", background=True),
            "fail",
            "error <message>",
        ),
        ("redirect", lambda: rc.check_plain_error(redirect(SUCCESS), "R"), "fail", "success-looking"),
        ("http-403", lambda: rc.check_plain_error(text("Invalid", 403), "R"), "warn", "HTTP 403"),
        ("label", lambda: rc.check_plain_error(text("Invalid", ctype="text/html"), "R"), "warn", "text/html"),
    ),
)
def test_check_plain_error(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_error_callback
_ERROR = [("domain", "v.example"), ("replace_token", TOKEN), ("error_message", "No file & no luck")]


def _error(a: rc.RedeemAnswer) -> list[Finding]:
    return rc.check_error_callback(a, TOKEN, "R")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("redirect", lambda: _error(redirect(_ERROR)), "pass", ""),
        (
            "upload_token-name",
            lambda: _error(redirect([(k.replace("replace", "upload"), v) for k, v in _ERROR])),
            "pass",
            "",
        ),
        ("form", lambda: _error(form(_ERROR)), "pass", ""),
        ("no-error_message", lambda: _error(redirect(_ERROR[:2])), "fail", "no error_message"),
        (
            "claims-success",
            lambda: _error(redirect([*_ERROR, ("tree_id", "9")])),
            "fail",
            "success parameters",
        ),
        ("both-token-names", lambda: _error(redirect([*_ERROR, ("upload_token", TOKEN)])), "fail", "2 times"),
        ("no-domain", lambda: _error(redirect(_ERROR[1:])), "fail", "lacks domain"),
        ("plain-text-is-no-callback", lambda: _error(text("No file")), "fail", "expected an error callback"),
    ),
)
def test_check_error_callback(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ check_success_count
_OK, _NO = redirect(SUCCESS), text("This replace token has been used up")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("exact", lambda: rc.check_success_count([_OK, _NO, _OK], 2, "R"), "pass", ""),
        ("too-many", lambda: rc.check_success_count([_OK, _OK, _NO], 1, "R"), "fail", "2 of 3"),
        ("too-few", lambda: rc.check_success_count([_NO, _NO], 1, "R"), "fail", "0 of 2"),
        ("n/a-nothing-fired", lambda: rc.check_success_count([], 0, "R"), "pass", ""),
    ),
)
def test_check_success_count(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ background mode
@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("ok d 9 7 pt http://r/cb?x=1\n", rc.BackgroundLine("d", "9", "7", "pt", "http://r/cb?x=1")),
        ("ok d 9 7 pt", None),
        ("ok d 9 7 pt http://r/cb?x=a b", None),
        ("error ok d 9 7 pt", None),
        ("OK d 9 7 pt u", None),
    ],
)
def test_parse_background_ok(line: str, parsed: rc.BackgroundLine | None) -> None:
    assert rc.parse_background_ok(line) == parsed


_BG_OK = ok_line(f"{CB_URL}?{BG_QUERY}")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("ok-line", lambda: rc.check_background_ok(_BG_OK, PHOTO, "R"), "pass", ""),
        ("other-photo", lambda: rc.check_background_ok(ok_line(CB_URL, "8"), PHOTO, "R"), "fail", "photo_id"),
        (
            "long-url",
            lambda: rc.check_background_ok(ok_line(CB_URL + "?p=" + "p" * 1500), PHOTO, "R"),
            "fail",
            "characters",
        ),
        (
            "not-an-ok-line",
            lambda: rc.check_background_ok(text("done"), PHOTO, "R"),
            "fail",
            "not an 'ok' line",
        ),
        ("redirect", lambda: rc.check_background_ok(redirect(SUCCESS), PHOTO, "R"), "fail", "plain text"),
    ),
)
def test_check_background_ok(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


def _delivery(got: list[ReceivedRequest], a: rc.RedeemAnswer = _BG_OK) -> list[Finding]:
    given = CB_URL + "?" + urlencode(OWN)
    return rc.check_background_delivery(a, got, given, TOKEN, "R", EXTRA)


_ARRIVED = received(f"{CB_PATH}?{BG_QUERY}")
_UPLOAD_NAMED = urlencode([*OWN, *_renamed("upload_token"), *EXTRA])


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
        ("n/a-error-line", lambda: _delivery([], text("error expired")), "pass", ""),
    ),
)
def test_check_background_delivery(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


_BG_ERROR = received(f"{CB_PATH}?{urlencode([*OWN, *_ERROR])}")


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        (
            "error-line-and-callback",
            lambda: rc.check_background_error(text("error no file"), [_BG_ERROR], "R"),
            "pass",
            "",
        ),
        (
            "no-callback",
            lambda: rc.check_background_error(text("error no file"), [], "R"),
            "warn",
            "no error callback",
        ),
        (
            "unprefixed",
            lambda: rc.check_background_error(text("no file"), [_BG_ERROR], "R"),
            "fail",
            "error <message>",
        ),
        (
            "callback-without-error_message",
            lambda: rc.check_background_error(text("error no file"), [received(CB_PATH + "?domain=d")], "R"),
            "fail",
            "no error_message",
        ),
        ("says-ok", lambda: rc.check_background_error(_BG_OK, [_ARRIVED], "R"), "fail", "reports success"),
    ),
)
def test_check_background_error(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


# ------------------------------------------------------------------ history (optional test-hook evidence)
_BEFORE = rc.PhotoHistory("1", "t0", ("s1",))
_AFTER = rc.PhotoHistory("9", "pt", ("s1", "s2"))


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        (
            "replaced",
            lambda: rc.check_history_replaced(_BEFORE, _AFTER, ["s2"], "R", redirect(SUCCESS)),
            "pass",
            "",
        ),
        (
            "nothing-stored",
            lambda: rc.check_history_replaced(_BEFORE, _BEFORE, ["s2"], "R"),
            "fail",
            "do not match",
        ),
        (
            "other-file",
            lambda: rc.check_history_replaced(_BEFORE, _AFTER, ["s3"], "R"),
            "fail",
            "do not match",
        ),
        (
            "callback-ids-differ",
            lambda: rc.check_history_replaced(
                _BEFORE, rc.PhotoHistory("8", "zz", ("s1", "s2")), ["s2"], "R", redirect(SUCCESS)
            ),
            "fail",
            "tree_id/token",
        ),
        ("n/a-no-hook", lambda: rc.check_history_replaced(None, None, ["s2"], "R"), "pass", ""),
    ),
)
def test_check_history_replaced(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)


@pytest.mark.parametrize(
    ("run", "expected", "part"),
    rows(
        ("unchanged", lambda: rc.check_history_unchanged(_BEFORE, _BEFORE, "R"), "pass", ""),
        ("replaced", lambda: rc.check_history_unchanged(_BEFORE, _AFTER, "R"), "fail", "do not match"),
        ("n/a-no-hook", lambda: rc.check_history_unchanged(_BEFORE, None, "R"), "pass", ""),
    ),
)
def test_check_history_unchanged(run: Callable[[], list[Finding]], expected: str, part: str) -> None:
    judge(run, expected, part)
