"""Checks of how a redemption is answered: a response at all, redirect, form POST, plain text, counts.

Each check takes the :class:`~conformance.parse.redeem.RedeemAnswer` it judges first and its
expectations after; what the callback carries is :mod:`conformance.checks.callback`'s, background
mode :mod:`conformance.checks.background`'s. Sources: photo-redeem-replace-token.md (Returns) and
browser-based-uploads.md (4a, 4b).
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.checks.callback import unexpected, url_base
from conformance.checks.envelope import check_no_server_error
from conformance.checks.registry import Baseline, check, fail, findings_of
from conformance.model.finding import Finding, shown
from conformance.parse.observation import Observation
from conformance.parse.redeem import RedeemAnswer, cut, has_markup
from conformance.spec import CALLBACK_THRESHOLD

THRESHOLD_MARGIN = 100
"""The suite never tests within this many characters of CALLBACK_THRESHOLD (catalog:
CALLBACK-REDIRECT-SHORT, position: the documents say both "less than" and "at most")."""
REPOSTING_REDIRECTS = (307, 308)
"""Redirects a browser follows by re-POSTing the upload: accepted with a warning, since 301 is the
documented one and any other redirect is accepted (catalog: CALLBACK-REDIRECT-SHORT, position)."""


# ------------------------------------------------------------------ every answer
@check("no answer, a server error or a leaked trace")
def check_redeem_answered(answer: RedeemAnswer) -> Baseline:
    """A response came back, without a server error or a leaked stack trace.

    The redeem side's baseline: it never counts as judging a test's own requirement (Api.expect).
    """
    if answer.kind == "none":
        message = "no HTTP response to the redeem request"
        observed = shown(answer.exchange.error)
        return Baseline([fail(message, answer.exchange, "an HTTP response", observed)])
    # A plain message (no form, no HTML markup) may say "Warning: token expired"; PHP's own warnings
    # and every other trace marker still count.
    plain = answer.kind != "form" and not has_markup(answer.text)
    return Baseline(
        findings_of(check_no_server_error(Observation(answer.exchange, None, None), plain_text=plain))
    )


# ------------------------------------------------------------------ how the callback is delivered
@check("short callback not a redirect")
def check_redirect(answer: RedeemAnswer) -> list[Finding]:
    """A short callback is an HTTP redirect with a Location (301 documented, any redirect accepted)."""
    ex = answer.exchange
    if answer.kind != "redirect":
        wanted = "an HTTP redirect to the callback URL"
        return unexpected(answer, wanted, "HTTP 301 (any 3xx) with Location")
    if answer.status in REPOSTING_REDIRECTS:
        message = (
            f"HTTP {answer.status} makes a browser repeat the POST of the upload "
            "to return_url; the documents describe a GET-style redirect (301)"
        )
        return [fail(message, ex, "301", str(answer.status), severity="warning")]
    return []


@check("long callback not a form POST to return_url")
def check_form_post(answer: RedeemAnswer, return_url: str) -> list[Finding]:
    """A callback too long for a redirect is an HTML form that POSTs to return_url."""
    ex = answer.exchange
    if answer.kind != "form":
        how = answer.describe()
        if answer.kind == "redirect" and len(answer.location or "") > CALLBACK_THRESHOLD:
            how = f"a GET redirect with a {len(answer.location or '')}-character callback URL"
        message = f"a callback longer than {CALLBACK_THRESHOLD} characters must be a POST, got {how}"
        return [fail(message, ex, "an HTML form with method=post addressed to return_url", how)]
    findings = []
    if answer.form_method != "post":
        message = f"the form's method is {answer.form_method!r}"
        findings.append(fail(message, ex, "post", shown(answer.form_method)))
    if url_base(answer.form_action or "") != url_base(return_url):
        message = "the form is not addressed to return_url"
        findings.append(fail(message, ex, cut(return_url), cut(answer.form_action or "")))
    return findings


@check("answer without return_url not plain HTTP 200")
def check_plain_ok(answer: RedeemAnswer) -> list[Finding]:
    """Without return_url the answer is a plain HTTP 200 (no redirect, no form)."""
    ex = answer.exchange
    if answer.kind != "text" or answer.status != 200:
        return unexpected(answer, "a plain HTTP 200 answer", "HTTP 200, no redirect, no form")
    if has_markup(answer.text):
        message = "the OK answer is an HTML page, not a plain message"
        return [fail(message, ex, "plain text", cut(answer.text))]
    return []


# ------------------------------------------------------------------ errors
@check("error not a plain message")
def check_plain_error(answer: RedeemAnswer, *, background: bool = False) -> list[Finding]:
    """A plain, unstyled error: no redirect, no form, no HTML; ``error <message>`` in background mode."""
    ex = answer.exchange
    if answer.kind != "text":
        looks = " (a success-looking callback)" if answer.outcome == "success" else ""
        return unexpected(answer, "a plain error message", "HTTP 200 plain text, no redirect", looks)
    findings = []
    if not answer.text:
        findings.append(fail("the error answer is empty", ex, "an error message", "''"))
    if has_markup(answer.text):
        findings.append(
            fail("the error message is styled HTML, not plain", ex, "plain text", cut(answer.text))
        )
    if answer.text.startswith("ok "):
        findings.append(fail("the answer reports success", ex, "an error", cut(answer.text)))
    elif background and not (answer.text.startswith("error ") and answer.text[6:].strip()):
        message = "a background-mode error must read 'error <message>'"
        findings.append(fail(message, ex, "error <message>", cut(answer.text)))
    if answer.status != 200:
        message = f"error answered with HTTP {answer.status}"
        findings.append(fail(message, ex, "HTTP 200", str(answer.status), severity="warning"))
    resp = ex.response
    ctype = ((resp.header("Content-Type") if resp else "") or "").split(";")[0].strip().lower()
    if ctype and ctype != "text/plain":
        findings.append(fail(f"error labelled {ctype!r}", ex, "text/plain", ctype, severity="warning"))
    return findings


# ------------------------------------------------------------------ limits
@check("wrong number of redemptions succeeded")
def check_success_count(answers: Sequence[RedeemAnswer], expected: int) -> list[Finding]:
    """Exactly ``expected`` of the redemptions succeeded; the others were errors."""
    successes = [a for a in answers if a.outcome == "success"]
    if len(successes) == expected:
        return []
    evidence = successes[expected] if len(successes) > expected else (answers[-1] if answers else None)
    message = f"{len(successes)} of {len(answers)} redemptions succeeded, expected exactly {expected}"
    outcomes = ", ".join(a.outcome for a in answers)
    ex = evidence.exchange if evidence else None
    return [fail(message, ex, f"{expected} success(es)", outcomes)]
