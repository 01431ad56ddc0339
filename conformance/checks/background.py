"""Checks of background mode: the target makes the callback itself and answers one plain line.

With background_return_p=1 a success is ``ok <domain> <tree_id> <photo_id> <token> <callback_url>``
and the target GETs return_url; a failure is ``error <message>`` (photo-redeem-replace-token.md,
Returns; browser-based-uploads.md, Uploading through Flash). What arrived at the suite's callback
receiver is judged against the line.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.checks.callback import missing_pairs, show_pairs, token_problem
from conformance.checks.redeem import check_plain_error
from conformance.checks.registry import check, fail, not_applicable
from conformance.model.finding import Finding, NotApplicable
from conformance.parse.redeem import RedeemAnswer, cut, parse_background_ok, query_pairs
from conformance.spec import CALLBACK_THRESHOLD
from conformance.transport.receiver import ReceivedRequest

OK_LINE = "ok <domain> <tree_id> <photo_id> <token> <callback_url>"


def _describe_received(received: Sequence[ReceivedRequest]) -> str:
    return "; ".join(f"{r.method} {cut(r.target, 150)}" for r in received[:5]) or "nothing arrived"


@check("background success not an ok line")
def check_background_ok(answer: RedeemAnswer, token_photo_id: str) -> list[Finding]:
    """A background success is plain text ``ok <domain> <tree_id> <photo_id> <token> <callback_url>``."""
    ex = answer.exchange
    if answer.kind != "text":
        message = f"background mode must answer plain text, got {answer.describe()}"
        return [fail(message, ex, OK_LINE, answer.describe())]
    line = parse_background_ok(answer.text)
    if line is None:
        return [fail("the answer is not an 'ok' line with five values", ex, OK_LINE, cut(answer.text))]
    findings = []
    if line.photo_id != token_photo_id:
        message = "photo_id in the ok line is not the token's photo"
        findings.append(fail(message, ex, token_photo_id, line.photo_id))
    if len(line.callback_url) > CALLBACK_THRESHOLD:
        message = f"the background callback URL has {len(line.callback_url)} characters"
        findings.append(fail(message, ex, f"at most {CALLBACK_THRESHOLD}", str(len(line.callback_url))))
    return findings


@check("background callback not made as the ok line says")
def check_background_delivery(
    answer: RedeemAnswer,
    received: Sequence[ReceivedRequest],
    given_url: str,
    token: str,
    extra: Sequence[tuple[str, str]] = (),
) -> list[Finding] | NotApplicable:
    """The target itself requested return_url (one GET, at most 1500 characters) as the ok line says.

    Every value arrives exactly as sent: return_url's own query, the ok line's values, the token
    (replace_token or upload_token) and the ``extra`` fields sent with the upload.
    """
    ex = answer.exchange
    line = parse_background_ok(answer.text) if answer.kind == "text" else None
    if line is None:  # check_background_ok reports the answer itself
        return not_applicable(f"no 'ok' line, so no callback was promised: {answer.describe()}")
    if not received:
        message = "the target answered 'ok' but never requested return_url"
        expected = "a GET to return_url from the target"
        return [fail(message, ex, expected, "nothing arrived at the callback receiver")]
    findings = []
    first = received[0]
    if first.method != "GET":
        message = f"the background callback used {first.method}"
        findings.append(fail(message, ex, "GET", _describe_received(received)))
    if len(received) > 1:
        message = f"{len(received)} callbacks arrived for one upload"
        seen = _describe_received(received)
        findings.append(fail(message, ex, "one callback", seen, severity="warning"))
    if len(first.target) > CALLBACK_THRESHOLD:
        message = f"the background GET has a {len(first.target)}-character request target"
        findings.append(fail(message, ex, f"at most {CALLBACK_THRESHOLD}", str(len(first.target))))
    got = first.query
    want = [
        ("domain", line.domain),
        ("photo_id", line.photo_id),
        ("tree_id", line.tree_id),
        ("token", line.token),
    ]
    own = query_pairs(given_url)
    lost = missing_pairs(got, [*want, *own, *extra])
    if lost:
        message = (
            "the callback that arrived disagrees with the ok line, or lost return_url's query "
            f"or the extra fields: missing {show_pairs(lost)}"
        )
        findings.append(fail(message, ex, show_pairs([*want, *own, *extra]), show_pairs(got)))
    problem = token_problem(got, token)
    if problem:
        expected = f"one replace_token (or upload_token) = {token}"
        findings.append(fail(f"background callback: {problem}", ex, expected, show_pairs(got)))
    if query_pairs(line.callback_url) != got:
        message = "the ok line's callback_url is not the URL requested"
        findings.append(fail(message, ex, cut(line.callback_url), cut(first.target)))
    return findings


@check("background error not an error line")
def check_background_error(answer: RedeemAnswer, received: Sequence[ReceivedRequest]) -> list[Finding]:
    """A background failure answers ``error <message>``; a callback, if made, carries error_message."""
    ex = answer.exchange
    findings = check_plain_error(answer, background=True)
    if not received:
        message = "no error callback arrived at return_url"
        findings.append(fail(message, ex, "a GET with error_message", "nothing arrived", severity="warning"))
    for r in received[:1]:
        if not dict(r.query).get("error_message"):
            message = "the background error callback has no error_message"
            findings.append(fail(message, ex, "error_message", _describe_received(received)))
    return findings
