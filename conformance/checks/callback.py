"""Checks of what a callback carries: the success and error parameters, return_url, extra fields.

The callback is the redirect's Location or the HTML form's fields (read by
:mod:`conformance.parse.redeem`); how it is delivered is judged in :mod:`conformance.checks.redeem`.
Sources: browser-based-uploads.md (4a success, 4b error) and photo-redeem-replace-token.md
(Returns). The helpers here also serve the background checks, whose callback arrives as a GET.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from urllib.parse import unquote, urlsplit

from conformance.checks.registry import check, fail, not_applicable
from conformance.model.finding import Finding, NotApplicable, shown
from conformance.parse.redeem import RedeemAnswer, cut, query_pairs
from conformance.spec import SUCCESS_PARAMS, TOKEN_NAMES


# ------------------------------------------------------------------ helpers
def url_base(url: str) -> tuple[str, str, int | None, str]:
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


def missing_pairs(have: Sequence[tuple[str, str]], want: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs of ``want`` not present in ``have`` (with multiplicity)."""
    pool = Counter(have)
    missing = []
    for pair in want:
        if pool[pair] > 0:
            pool[pair] -= 1
        else:
            missing.append(pair)
    return missing


def show_pairs(pairs: Sequence[tuple[str, str]], limit: int = 300) -> str:
    return cut(", ".join(f"{k}={v!r}" for k, v in pairs), limit)


def token_problem(params: Sequence[tuple[str, str]], token: str) -> str | None:
    """Why the callback's token is wrong, or None: exactly one of TOKEN_NAMES, equal to ``token``."""
    found = [(k, v) for k, v in params if k in TOKEN_NAMES]
    if not found:
        return "the callback lacks replace_token (or upload_token)"
    if len(found) > 1:
        return f"the callback names the token {len(found)} times ({show_pairs(found)}); expected exactly one"
    name, value = found[0]
    if value != token:
        return f"{name} in the callback is not the token redeemed"
    return None


def unexpected(answer: RedeemAnswer, wanted: str, expected: str, note: str = "") -> list[Finding]:
    """The finding of a check handed the wrong kind of answer (a text where a callback was due, ...)."""
    message = f"expected {wanted}, got {answer.describe()}{note}"
    return [fail(message, answer.exchange, expected, answer.describe())]


# ------------------------------------------------------------------ success callbacks
@check("success callback incomplete or wrong")
def check_success_callback(answer: RedeemAnswer, token: str, photo_id: str) -> list[Finding]:
    """A success callback carries domain, the token (replace_token or upload_token), the token's photo_id,
    tree_id and the photo token."""
    ex = answer.exchange
    if not answer.is_callback:
        expected = "a redirect (or form) to return_url with the success parameters"
        return unexpected(answer, "a success callback", expected)
    findings = []
    if answer.param("error_message") is not None:
        message = "the callback reports an error"
        findings.append(fail(message, ex, "no error_message", repr(answer.param("error_message"))))
    missing = [n for n in SUCCESS_PARAMS if not answer.param(n)]
    if missing:
        message = f"the success callback lacks {', '.join(missing)}"
        expected = ", ".join((*SUCCESS_PARAMS, " or ".join(TOKEN_NAMES)))
        findings.append(fail(message, ex, expected, show_pairs(answer.params)))
    problem = token_problem(answer.params, token)
    if problem:
        named = show_pairs([(k, v) for k, v in answer.params if k in TOKEN_NAMES]) or "none"
        findings.append(fail(problem, ex, f"one replace_token (or upload_token) = {token}", named))
    if answer.param("photo_id") not in (None, "", photo_id):
        message = "photo_id in the callback is not the token's photo"
        findings.append(fail(message, ex, photo_id, repr(answer.param("photo_id"))))
    return findings


@check("callback does not keep return_url and its query")
def check_callback_keeps_return_url(answer: RedeemAnswer, return_url: str) -> list[Finding] | NotApplicable:
    """The callback goes to return_url itself, with return_url's own query parameters kept."""
    ex = answer.exchange
    if not answer.is_callback:
        return not_applicable(f"no callback to judge: {answer.describe()}")
    target = answer.location if answer.kind == "redirect" else answer.form_action
    findings = []
    if target is None or url_base(target) != url_base(return_url):
        message = "the callback is not addressed to return_url"
        findings.append(fail(message, ex, cut(return_url), shown(target and cut(target))))
    own = query_pairs(return_url)
    have = list(answer.params)
    if answer.kind == "form":
        have += query_pairs(target or "")
    lost = missing_pairs(have, own)
    if lost:
        message = f"return_url's own query parameter(s) lost: {show_pairs(lost)}"
        findings.append(fail(message, ex, show_pairs(own), show_pairs(have)))
    return findings


@check("extra form fields not repeated")
def check_extra_fields_repeated(
    answer: RedeemAnswer, extra: Sequence[tuple[str, str]]
) -> list[Finding] | NotApplicable:
    """Every extra form field sent with the upload comes back in the callback, with its value."""
    if not answer.is_callback:
        return not_applicable(f"no callback to judge: {answer.describe()}")
    if not extra:
        return not_applicable("no extra fields were sent")
    lost = missing_pairs(answer.params, extra)
    if not lost:
        return []
    message = f"extra form field(s) not repeated in the callback: {show_pairs(lost)}"
    return [fail(message, answer.exchange, show_pairs(extra), show_pairs(answer.params))]


# ------------------------------------------------------------------ error callbacks
@check("error callback incomplete or wrong")
def check_error_callback(answer: RedeemAnswer, token: str) -> list[Finding]:
    """A failed upload with a return_url sends the user to the callback with error_message (section 4b)."""
    ex = answer.exchange
    if not answer.is_callback:
        return unexpected(answer, "an error callback", "a callback to return_url with error_message")
    findings = []
    if not answer.param("error_message"):
        message = "the callback carries no error_message"
        expected = "error_message, replace_token, domain"
        findings.append(fail(message, ex, expected, show_pairs(answer.params)))
    claimed = [n for n in ("tree_id", "token") if answer.param(n)]
    if claimed:
        message = f"the error callback carries success parameters {', '.join(claimed)}"
        findings.append(fail(message, ex, "no tree_id/token", show_pairs(answer.params)))
    problem = token_problem(answer.params, token)
    if problem or not answer.param("domain"):
        message = f"error callback: {problem}" if problem else "the error callback lacks domain"
        expected = f"replace_token (or upload_token)={token}, domain"
        findings.append(fail(message, ex, expected, show_pairs(answer.params)))
    return findings
