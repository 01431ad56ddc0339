"""Checks for the token lifecycle: redeem answers, callbacks, limits, background delivery.

Same contract as :mod:`conformance.checks`: small pure functions from what was observed to
findings, never sending a request and never raising on bad target behaviour. A redeem answer is
read once into a :class:`RedeemAnswer` (a redirect, an HTML form, plain text, or something else);
the checks judge that reading against photo-redeem-replace-token.md (Returns) and
browser-based-uploads.md (4a, 4b, Uploading through Flash).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from conformance.checks import Finding, Observation, _finding, check_no_server_error
from conformance.model.exchange import Exchange
from conformance.transport.receiver import ReceivedRequest

CALLBACK_THRESHOLD = 1500  # browser-based callbacks up to this length are redirects (and background GETs)
THRESHOLD_MARGIN = 100  # the suite never tests within this many characters of the threshold
# The callback names the redeemed token replace_token (this method's parameter) or upload_token (the
# name browser-based-uploads.md uses for the same flow): exactly one of them.
TOKEN_NAMES = ("replace_token", "upload_token")
SUCCESS_PARAMS = ("domain", "replace_token|upload_token", "photo_id", "tree_id", "token")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_BUTTONS = ("submit", "button", "image", "reset", "file")
_HTML_TAG = re.compile(
    r"<\s*/?\s*(?:html|head|body|div|p|span|h[1-6]|form|script|style|table|br|b|i)\b", re.I
)

AnswerKind = Literal["redirect", "form", "text", "other", "none"]


class _FormReader(HTMLParser):
    """The first <form> of a page: its attributes and its named inputs, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: dict[str, str] | None = None
        self.inputs: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "form" and not self._done and self.form is None:
            self.form, self._in_form = a, True
        elif (
            tag == "input"
            and self._in_form
            and a.get("name")
            and a.get("type", "text").lower() not in _BUTTONS
        ):
            self.inputs.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True


@dataclass(frozen=True)
class RedeemAnswer:
    """What a redeem request got back, read once."""

    exchange: Exchange
    kind: AnswerKind
    status: int | None = None
    location: str | None = None
    params: list[tuple[str, str]] = field(
        default_factory=list
    )  # callback parameters (Location query or form)
    form_action: str | None = None
    form_method: str | None = None
    text: str = ""

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def is_callback(self) -> bool:
        return self.kind in ("redirect", "form")

    @property
    def outcome(self) -> Literal["success", "error", "unclear"]:
        """Success is a callback without error_message or an ``ok`` line; plain text is an error."""
        if self.is_callback:
            return "error" if self.param("error_message") is not None else "success"
        if self.kind == "text":
            return "success" if self.text.startswith("ok ") else "error"
        return "unclear"

    def describe(self) -> str:
        if self.kind == "none":
            return f"no response ({self.exchange.error})"
        if self.kind == "redirect":
            where = self.location or ""
            return f"HTTP {self.status} redirect to {_cut(where)} ({len(where)} chars)"
        if self.kind == "form":
            return (
                f"HTTP {self.status} HTML form {self.form_method or 'GET'} to {_cut(self.form_action or '')}"
            )
        return f"HTTP {self.status} {self.kind} {_cut(self.text)!r}"


def read_redeem_answer(exchange: Exchange) -> RedeemAnswer:
    """Classify a redeem response: redirect (3xx + Location), HTML form, plain text, or other."""
    resp = exchange.response
    if resp is None:
        return RedeemAnswer(exchange, "none")
    text = resp.text
    location = resp.header("Location")
    if 300 <= resp.status < 400:
        if not location:
            return RedeemAnswer(exchange, "other", resp.status, text=text.strip())
        query = urlsplit(location).query
        return RedeemAnswer(
            exchange,
            "redirect",
            resp.status,
            location,
            parse_qsl(query, keep_blank_values=True),
            text=text.strip(),
        )
    if "<form" in text.lower():
        reader = _FormReader()
        try:
            reader.feed(text)
            reader.close()
        except Exception:  # html.parser on hostile input: treat as not a form
            reader.form = None
        if reader.form is not None:
            return RedeemAnswer(
                exchange,
                "form",
                resp.status,
                location,
                reader.inputs,
                form_action=reader.form.get("action", ""),
                form_method=reader.form.get("method", "get").lower(),
                text=text.strip(),
            )
    return RedeemAnswer(exchange, "text", resp.status, location, text=text.strip())


# ------------------------------------------------------------------ helpers
def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _url_base(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and decoded path: what 'the same address' means, ignoring query and fragment."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (
        parts.scheme.lower(),
        (parts.hostname or "").lower(),
        None if port == default else port,
        unquote(parts.path or "/"),
    )


def _missing_pairs(have: Sequence[tuple[str, str]], want: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs of ``want`` not present in ``have`` (with multiplicity)."""
    pool = Counter(have)
    missing = []
    for pair in want:
        if pool[pair] > 0:
            pool[pair] -= 1
        else:
            missing.append(pair)
    return missing


def _show_pairs(pairs: Sequence[tuple[str, str]], limit: int = 300) -> str:
    return _cut(", ".join(f"{k}={v!r}" for k, v in pairs), limit)


def token_problem(params: Sequence[tuple[str, str]], token: str) -> str | None:
    """Why the callback's token is wrong, or None: exactly one of TOKEN_NAMES, equal to ``token``."""
    found = [(k, v) for k, v in params if k in TOKEN_NAMES]
    if not found:
        return "the callback lacks replace_token (or upload_token)"
    if len(found) > 1:
        return f"the callback names the token {len(found)} times ({_show_pairs(found)}); expected exactly one"
    name, value = found[0]
    if value != token:
        return f"{name} in the callback is not the token redeemed"
    return None


# ------------------------------------------------------------------ every answer
def check_redeem_answered(answer: RedeemAnswer, req: str) -> list[Finding]:
    """A response came back, without a server error or a leaked stack trace."""
    if answer.kind == "none":
        return [
            _finding(
                req,
                "check_redeem_answered",
                "no HTTP response to the redeem request",
                answer.exchange,
                "an HTTP response",
                answer.exchange.error or "",
            )
        ]
    # A plain message (no form, no HTML markup) may say "Warning: token expired"; PHP's own warnings
    # and every other trace marker still count.
    plain = answer.kind != "form" and not _HTML_TAG.search(answer.text)
    return check_no_server_error(Observation(answer.exchange, None, None), req, plain_text=plain)


# ------------------------------------------------------------------ success callbacks
def check_success_callback(answer: RedeemAnswer, token: str, photo_id: str, req: str) -> list[Finding]:
    """A success callback carries domain, the token (replace_token or upload_token), the token's photo_id,
    tree_id and the photo token."""
    ex = answer.exchange
    if not answer.is_callback:
        return [
            _finding(
                req,
                "check_success_callback",
                f"expected a success callback, got {answer.describe()}",
                ex,
                "a redirect (or form) to return_url with the success parameters",
                answer.describe(),
            )
        ]
    findings = []
    if answer.param("error_message") is not None:
        findings.append(
            _finding(
                req,
                "check_success_callback",
                "the callback reports an error",
                ex,
                "no error_message",
                repr(answer.param("error_message")),
            )
        )
    missing = [name for name in ("domain", "photo_id", "tree_id", "token") if not answer.param(name)]
    if missing:
        findings.append(
            _finding(
                req,
                "check_success_callback",
                f"the success callback lacks {', '.join(missing)}",
                ex,
                ", ".join(SUCCESS_PARAMS),
                _show_pairs(answer.params),
            )
        )
    problem = token_problem(answer.params, token)
    if problem:
        findings.append(
            _finding(
                req,
                "check_success_callback",
                problem,
                ex,
                f"one replace_token (or upload_token) = {token}",
                _show_pairs([(k, v) for k, v in answer.params if k in TOKEN_NAMES]) or "none",
            )
        )
    if answer.param("photo_id") not in (None, "", photo_id):
        findings.append(
            _finding(
                req,
                "check_success_callback",
                "photo_id in the callback is not the token's photo",
                ex,
                photo_id,
                repr(answer.param("photo_id")),
            )
        )
    return findings


def check_callback_keeps_return_url(answer: RedeemAnswer, return_url: str, req: str) -> list[Finding]:
    """The callback goes to return_url itself, with return_url's own query parameters kept."""
    if not answer.is_callback:
        return []
    ex = answer.exchange
    target = answer.location if answer.kind == "redirect" else answer.form_action
    findings = []
    if target is None or _url_base(target) != _url_base(return_url):
        findings.append(
            _finding(
                req,
                "check_callback_keeps_return_url",
                "the callback is not addressed to return_url",
                ex,
                _cut(return_url),
                _cut(target or ""),
            )
        )
    own = parse_qsl(urlsplit(return_url).query, keep_blank_values=True)
    have = list(answer.params)
    if answer.kind == "form":
        have += parse_qsl(urlsplit(target or "").query, keep_blank_values=True)
    lost = _missing_pairs(have, own)
    if lost:
        findings.append(
            _finding(
                req,
                "check_callback_keeps_return_url",
                f"return_url's own query parameter(s) lost: {_show_pairs(lost)}",
                ex,
                _show_pairs(own),
                _show_pairs(have),
            )
        )
    return findings


def check_extra_fields_repeated(
    answer: RedeemAnswer, extra: Sequence[tuple[str, str]], req: str
) -> list[Finding]:
    """Every extra form field sent with the upload comes back in the callback, with its value."""
    if not answer.is_callback or not extra:
        return []
    lost = _missing_pairs(answer.params, extra)
    if lost:
        return [
            _finding(
                req,
                "check_extra_fields_repeated",
                f"extra form field(s) not repeated in the callback: {_show_pairs(lost)}",
                answer.exchange,
                _show_pairs(extra),
                _show_pairs(answer.params),
            )
        ]
    return []


# ------------------------------------------------------------------ how the callback is delivered
def check_redirect(answer: RedeemAnswer, req: str) -> list[Finding]:
    """A short callback is an HTTP redirect with a Location (301 documented, any redirect accepted)."""
    ex = answer.exchange
    if answer.kind != "redirect":
        return [
            _finding(
                req,
                "check_redirect",
                f"expected an HTTP redirect to the callback URL, got {answer.describe()}",
                ex,
                "HTTP 301 (any 3xx) with Location",
                answer.describe(),
            )
        ]
    if answer.status in (307, 308):
        return [
            _finding(
                req,
                "check_redirect",
                f"HTTP {answer.status} makes a browser repeat the POST of the upload "
                "to return_url; the documents describe a GET-style redirect (301)",
                ex,
                "301",
                str(answer.status),
                severity="warning",
            )
        ]
    return []


def check_form_post(answer: RedeemAnswer, return_url: str, req: str) -> list[Finding]:
    """A callback too long for a redirect is an HTML form that POSTs to return_url."""
    ex = answer.exchange
    if answer.kind != "form":
        how = answer.describe()
        if answer.kind == "redirect" and len(answer.location or "") > CALLBACK_THRESHOLD:
            how = f"a GET redirect with a {len(answer.location or '')}-character callback URL"
        return [
            _finding(
                req,
                "check_form_post",
                f"a callback longer than {CALLBACK_THRESHOLD} characters must be a POST, got {how}",
                ex,
                "an HTML form with method=post addressed to return_url",
                how,
            )
        ]
    findings = []
    if answer.form_method != "post":
        findings.append(
            _finding(
                req,
                "check_form_post",
                f"the form's method is {answer.form_method!r}",
                ex,
                "post",
                str(answer.form_method),
            )
        )
    if _url_base(answer.form_action or "") != _url_base(return_url):
        findings.append(
            _finding(
                req,
                "check_form_post",
                "the form is not addressed to return_url",
                ex,
                _cut(return_url),
                _cut(answer.form_action or ""),
            )
        )
    return findings


def check_plain_ok(answer: RedeemAnswer, req: str) -> list[Finding]:
    """Without return_url the answer is a plain HTTP 200 (no redirect, no form)."""
    ex = answer.exchange
    if answer.kind != "text" or answer.status != 200:
        return [
            _finding(
                req,
                "check_plain_ok",
                f"expected a plain HTTP 200 answer, got {answer.describe()}",
                ex,
                "HTTP 200, no redirect, no form",
                answer.describe(),
            )
        ]
    if _HTML_TAG.search(answer.text):
        return [
            _finding(
                req,
                "check_plain_ok",
                "the OK answer is an HTML page, not a plain message",
                ex,
                "plain text",
                _cut(answer.text),
            )
        ]
    return []


# ------------------------------------------------------------------ errors
def check_plain_error(answer: RedeemAnswer, req: str, *, background: bool = False) -> list[Finding]:
    """A plain, unstyled error: no redirect, no form, no HTML; ``error <message>`` in background mode."""
    ex = answer.exchange
    if answer.kind != "text":
        looks = " (a success-looking callback)" if answer.outcome == "success" else ""
        return [
            _finding(
                req,
                "check_plain_error",
                f"expected a plain error message, got {answer.describe()}{looks}",
                ex,
                "HTTP 200 plain text, no redirect",
                answer.describe(),
            )
        ]
    findings = []
    if not answer.text:
        findings.append(
            _finding(req, "check_plain_error", "the error answer is empty", ex, "an error message", "''")
        )
    if _HTML_TAG.search(answer.text):
        findings.append(
            _finding(
                req,
                "check_plain_error",
                "the error message is styled HTML, not plain",
                ex,
                "plain text",
                _cut(answer.text),
            )
        )
    if answer.text.startswith("ok "):
        findings.append(
            _finding(
                req, "check_plain_error", "the answer reports success", ex, "an error", _cut(answer.text)
            )
        )
    elif background and not (answer.text.startswith("error ") and answer.text[6:].strip()):
        findings.append(
            _finding(
                req,
                "check_plain_error",
                "a background-mode error must read 'error <message>'",
                ex,
                "error <message>",
                _cut(answer.text),
            )
        )
    if answer.status != 200:
        findings.append(
            _finding(
                req,
                "check_plain_error",
                f"error answered with HTTP {answer.status}",
                ex,
                "HTTP 200",
                str(answer.status),
                severity="warning",
            )
        )
    resp = ex.response
    ctype = ((resp.header("Content-Type") if resp else "") or "").split(";")[0].strip().lower()
    if ctype and ctype != "text/plain":
        findings.append(
            _finding(
                req,
                "check_plain_error",
                f"error labelled {ctype!r}",
                ex,
                "text/plain",
                ctype,
                severity="warning",
            )
        )
    return findings


def check_error_callback(answer: RedeemAnswer, token: str, req: str) -> list[Finding]:
    """A failed upload with a return_url sends the user to the callback with error_message (section 4b)."""
    ex = answer.exchange
    if not answer.is_callback:
        return [
            _finding(
                req,
                "check_error_callback",
                f"expected an error callback, got {answer.describe()}",
                ex,
                "a callback to return_url with error_message",
                answer.describe(),
            )
        ]
    findings = []
    if not answer.param("error_message"):
        findings.append(
            _finding(
                req,
                "check_error_callback",
                "the callback carries no error_message",
                ex,
                "error_message, replace_token, domain",
                _show_pairs(answer.params),
            )
        )
    claimed = [name for name in ("tree_id", "token") if answer.param(name)]
    if claimed:
        findings.append(
            _finding(
                req,
                "check_error_callback",
                f"the error callback carries success parameters {', '.join(claimed)}",
                ex,
                "no tree_id/token",
                _show_pairs(answer.params),
            )
        )
    problem = token_problem(answer.params, token)
    if problem or not answer.param("domain"):
        findings.append(
            _finding(
                req,
                "check_error_callback",
                f"error callback: {problem}" if problem else "the error callback lacks domain",
                ex,
                f"replace_token (or upload_token)={token}, domain",
                _show_pairs(answer.params),
            )
        )
    return findings


# ------------------------------------------------------------------ limits
def check_success_count(answers: Sequence[RedeemAnswer], expected: int, req: str) -> list[Finding]:
    """Exactly ``expected`` of the redemptions succeeded; the others were errors."""
    successes = [a for a in answers if a.outcome == "success"]
    if len(successes) == expected:
        return []
    evidence = successes[expected] if len(successes) > expected else (answers[-1] if answers else None)
    ex = evidence.exchange if evidence else None
    return [
        _finding(
            req,
            "check_success_count",
            f"{len(successes)} of {len(answers)} redemptions succeeded, expected exactly {expected}",
            ex,
            f"{expected} success(es)",
            ", ".join(a.outcome for a in answers),
        )
    ]


# ------------------------------------------------------------------ background mode
@dataclass(frozen=True)
class BackgroundLine:
    domain: str
    tree_id: str
    photo_id: str
    token: str
    callback_url: str


def parse_background_ok(text: str) -> BackgroundLine | None:
    """Read ``ok <domain> <tree_id> <photo_id> <token> <callback_url>`` (photo-redeem-replace-token.md)."""
    parts = text.strip().split()
    if len(parts) != 6 or parts[0] != "ok":
        return None
    return BackgroundLine(*parts[1:])


def check_background_ok(answer: RedeemAnswer, token_photo_id: str, req: str) -> list[Finding]:
    """A background success is plain text ``ok <domain> <tree_id> <photo_id> <token> <callback_url>``."""
    ex = answer.exchange
    if answer.kind != "text":
        return [
            _finding(
                req,
                "check_background_ok",
                f"background mode must answer plain text, got {answer.describe()}",
                ex,
                "ok <domain> <tree_id> <photo_id> <token> <callback_url>",
                answer.describe(),
            )
        ]
    line = parse_background_ok(answer.text)
    if line is None:
        return [
            _finding(
                req,
                "check_background_ok",
                "the answer is not an 'ok' line with five values",
                ex,
                "ok <domain> <tree_id> <photo_id> <token> <callback_url>",
                _cut(answer.text),
            )
        ]
    findings = []
    if line.photo_id != token_photo_id:
        findings.append(
            _finding(
                req,
                "check_background_ok",
                "photo_id in the ok line is not the token's photo",
                ex,
                token_photo_id,
                line.photo_id,
            )
        )
    if len(line.callback_url) > CALLBACK_THRESHOLD:
        findings.append(
            _finding(
                req,
                "check_background_ok",
                f"the background callback URL has {len(line.callback_url)} characters",
                ex,
                f"at most {CALLBACK_THRESHOLD}",
                str(len(line.callback_url)),
            )
        )
    return findings


def _describe_received(received: Sequence[ReceivedRequest]) -> str:
    return "; ".join(f"{r.method} {_cut(r.target, 150)}" for r in received[:5]) or "nothing arrived"


def check_background_delivery(
    answer: RedeemAnswer,
    received: Sequence[ReceivedRequest],
    given_url: str,
    token: str,
    req: str,
    extra: Sequence[tuple[str, str]] = (),
) -> list[Finding]:
    """The target itself requested return_url (one GET, at most 1500 characters) as the ok line says.

    Every value arrives exactly as sent: return_url's own query, the ok line's values, the token
    (replace_token or upload_token) and the ``extra`` fields sent with the upload.
    """
    ex = answer.exchange
    line = parse_background_ok(answer.text) if answer.kind == "text" else None
    if line is None:
        return []  # check_background_ok reports the answer itself
    if not received:
        return [
            _finding(
                req,
                "check_background_delivery",
                "the target answered 'ok' but never requested return_url",
                ex,
                "a GET to return_url from the target",
                "nothing arrived at the callback receiver",
            )
        ]
    findings = []
    first = received[0]
    if first.method != "GET":
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                f"the background callback used {first.method}",
                ex,
                "GET",
                _describe_received(received),
            )
        )
    if len(received) > 1:
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                f"{len(received)} callbacks arrived for one upload",
                ex,
                "one callback",
                _describe_received(received),
                severity="warning",
            )
        )
    if len(first.target) > CALLBACK_THRESHOLD:
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                f"the background GET has a {len(first.target)}-character request target",
                ex,
                f"at most {CALLBACK_THRESHOLD}",
                str(len(first.target)),
            )
        )
    got = first.query
    want = [
        ("domain", line.domain),
        ("photo_id", line.photo_id),
        ("tree_id", line.tree_id),
        ("token", line.token),
    ]
    own = parse_qsl(urlsplit(given_url).query, keep_blank_values=True)
    lost = _missing_pairs(got, [*want, *own, *extra])
    if lost:
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                "the callback that arrived disagrees with the ok line, or lost return_url's query "
                f"or the extra fields: missing {_show_pairs(lost)}",
                ex,
                _show_pairs([*want, *own, *extra]),
                _show_pairs(got),
            )
        )
    problem = token_problem(got, token)
    if problem:
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                f"background callback: {problem}",
                ex,
                f"one replace_token (or upload_token) = {token}",
                _show_pairs(got),
            )
        )
    if parse_qsl(urlsplit(line.callback_url).query, keep_blank_values=True) != got:
        findings.append(
            _finding(
                req,
                "check_background_delivery",
                "the ok line's callback_url is not the URL requested",
                ex,
                _cut(line.callback_url),
                _cut(first.target),
            )
        )
    return findings


def check_background_error(
    answer: RedeemAnswer, received: Sequence[ReceivedRequest], req: str
) -> list[Finding]:
    """A background failure answers ``error <message>``; a callback, if made, carries error_message."""
    findings = check_plain_error(answer, req, background=True)
    ex = answer.exchange
    if not received:
        findings.append(
            _finding(
                req,
                "check_background_error",
                "no error callback arrived at return_url",
                ex,
                "a GET with error_message",
                "nothing arrived",
                severity="warning",
            )
        )
    for r in received[:1]:
        if not dict(r.query).get("error_message"):
            findings.append(
                _finding(
                    req,
                    "check_background_error",
                    "the background error callback has no error_message",
                    ex,
                    "error_message",
                    _describe_received(received),
                )
            )
    return findings


# ------------------------------------------------------------------ optional evidence: the test hook
@dataclass(frozen=True)
class PhotoHistory:
    """The replacement history a reference-style ``/_test/photo/<id>`` hook reports."""

    tree_id: str
    token: str
    sha256s: tuple[str, ...]
    exchange: Exchange | None = None


_HOOK_NOTE = " (extra evidence from the target's /_test/photo test hook)"


def check_history_replaced(
    before: PhotoHistory | None,
    after: PhotoHistory | None,
    uploads: Sequence[str],
    req: str,
    answer: RedeemAnswer | None = None,
) -> list[Finding]:
    """The stored history grew by exactly these files (SHA-256), and the photo now has the callback's ids."""
    if before is None or after is None:
        return []
    ex = after.exchange
    added = list(after.sha256s[len(before.sha256s) :])
    if len(after.sha256s) < len(before.sha256s) or Counter(added) != Counter(uploads):
        return [
            _finding(
                req,
                "check_history_replaced",
                f"stored replacements do not match the uploads{_HOOK_NOTE}",
                ex,
                f"{len(uploads)} new: {', '.join(u[:12] for u in uploads)}",
                f"{len(added)} new: {', '.join(a[:12] for a in added)}",
            )
        ]
    ids = (answer.param("tree_id"), answer.param("token")) if answer is not None else (None, None)
    if answer is not None and answer.outcome == "success" and ids[0] and ids != (after.tree_id, after.token):
        return [
            _finding(
                req,
                "check_history_replaced",
                f"the callback's tree_id/token are not the photo's now{_HOOK_NOTE}",
                ex,
                f"{after.tree_id}/{after.token}",
                f"{ids[0]}/{ids[1]}",
            )
        ]
    return []


def check_history_unchanged(
    before: PhotoHistory | None, after: PhotoHistory | None, req: str
) -> list[Finding]:
    """Nothing was replaced."""
    return check_history_replaced(before, after, [], req)
