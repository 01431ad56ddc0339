"""Envelope checks: the baseline every answer meets (HTTP 200, no server error, well-formed,
labelled) and what its envelope says (a success, an error with a code, a permission level).

Every check here takes the :class:`Observation` it judges first and its expectations after, and
returns its findings (unbound: the calling test binds them) or :class:`NotApplicable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from conformance.checks.registry import Baseline, Outcome, bound, check, fail, findings_of, not_applicable
from conformance.model.finding import Finding, Severity, shown
from conformance.parse.observation import Observation
from conformance.parse.schemas import validate_json_response, validate_xml_response
from conformance.spec import DOCUMENTED_ERROR_CODES, ERROR_MEMBERS

Format = Literal["xml", "json"]

_STACK_TRACE_MARKERS = (
    "Traceback (most recent call last)",
    "Exception in thread",
    "at java.",
    "Fatal error:",
    "Stack trace:",
    "System.NullReferenceException",
    "panic: ",
    "Warning: ",
    "<b>Notice</b>",
)
_PHP_WARNING = re.compile(r"Warning: [^\n]{0,500}? in \S+ on line \d+")  # PHP's warning, even in plain text
_CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "xml": ("text/xml", "application/xml"),
    "json": (
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/x-javascript",
        "text/plain",
    ),
}
"""What a client can treat as the format (lenient, FORMAT-* positions: labels vary in practice)."""


# ------------------------------------------------------------------ the baseline
@check("HTTP status is not 200")
def check_http_status_200(obs: Observation) -> Outcome:
    """Success and error alike answer HTTP 200."""
    resp = obs.exchange.response
    if resp is None:
        return not_applicable("no response")
    if resp.status == 200:
        return []
    return [
        fail(
            f"HTTP status {resp.status}, expected 200",
            obs.exchange,
            "HTTP 200 for success and error alike",
            f"HTTP {resp.status} {resp.reason}",
        )
    ]


@check("server error or stack trace in the answer")
def check_no_server_error(obs: Observation, *, plain_text: bool = False) -> Outcome:
    """No 5xx, no stack trace or interpreter warning leaking into the body.

    A marker that the request itself carried (an echoed return_url, say) is not evidence.
    ``plain_text``: the body is a plain message (a redeem answer), where "Warning: token expired"
    is ordinary wording; there "Warning: " counts only in PHP's shape ("... in FILE on line N").
    """
    resp = obs.exchange.response
    if resp is None:
        return not_applicable("no response")
    findings: list[Finding] = []
    if resp.status >= 500:
        findings.append(
            fail(
                f"server error HTTP {resp.status}",
                obs.exchange,
                "a documented API response",
                f"HTTP {resp.status}",
            )
        )
    text = resp.text
    sent = " ".join(f"{k} {v}" for k, v in obs.exchange.request.params) if obs.exchange.request else ""
    for marker in _STACK_TRACE_MARKERS:
        if plain_text and marker == "Warning: " and not _PHP_WARNING.search(text):
            continue
        if marker in text and marker not in sent:
            at = text.find(marker)
            findings.append(
                fail(
                    f"body contains a stack trace marker {marker!r}",
                    obs.exchange,
                    "no internal error details",
                    text[max(0, at - 20) : at + 160],
                )
            )
            break
    return findings


@check("not a well-formed API response")
def check_well_formed(obs: Observation, fmt: Format) -> list[Finding]:
    """The body parses as the expected format and validates against the shipped schema.

    Applies to every answer, a missing one included (no answer is not a well-formed one). The
    schema's one warning, an undocumented error code, is check_error_code_documented's to make.
    """
    if obs.parsed is None:
        return [
            fail(
                f"response is not a well-formed {fmt.upper()} API response: {obs.parse_error}",
                obs.exchange,
                f"a {fmt.upper()} <response>",
                shown(obs.parse_error),
            )
        ]
    if obs.parsed.format != fmt:
        return [
            fail(
                f"expected {fmt.upper()}, got {obs.parsed.format.upper()}",
                obs.exchange,
                fmt.upper(),
                obs.parsed.format.upper(),
            )
        ]
    resp = obs.exchange.response
    assert resp is not None
    violations = (
        validate_xml_response(resp.body) if fmt == "xml" else validate_json_response(obs.parsed.document)
    )
    return [
        fail(
            f"schema: {v.path}: {v.message}",
            obs.exchange,
            "valid against the shipped schema",
            v.path,
        )
        for v in violations
        if v.severity == "error"
    ]


@check("Content-Type does not name the format")
def check_content_type(obs: Observation, fmt: Format) -> Outcome:
    """Content-Type names a type a client can treat as the format; a wrong or missing label warns.

    The documents name no Content-Type (index.md, Responses and Response formats), so a label is
    judged leniently, but an answer without one (or with an empty one) leaves the client guessing.
    """
    resp = obs.exchange.response
    if resp is None:
        return not_applicable("no response")
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    allowed = _CONTENT_TYPES[fmt]
    if ctype in allowed or ctype.endswith("+xml" if fmt == "xml" else "+json"):
        return []
    if not ctype:  # a client (or a browser under nosniff) cannot tell the format: a warning too
        return [
            fail(
                f"no Content-Type: the answer does not say it is {fmt.upper()}",
                obs.exchange,
                " or ".join(allowed),
                shown(resp.header("Content-Type")),
                severity="warning",
            )
        ]
    return [
        fail(
            f"Content-Type {ctype!r} is not a {fmt.upper()} type",
            obs.exchange,
            " or ".join(allowed),
            ctype,
            severity="warning",
        )
    ]


@check("error without status, code and message")
def check_error_envelope(obs: Observation) -> Outcome:
    """Every error carries status, a non-empty code and a message."""
    if obs.parsed is None or obs.parsed.status != "error":
        return not_applicable("not an error answer")
    missing = [k for k in ERROR_MEMBERS if not obs.parsed.attributes.get(k)]
    if not missing:
        return []
    return [
        fail(
            f"error response lacks {', '.join(missing)}",
            obs.exchange,
            "status, code and message",
            repr(obs.parsed.attributes),
        )
    ]


@check("undocumented error code")
def check_error_code_documented(obs: Observation, *, severity: Severity = "error") -> Outcome:
    """An error's code is one error-codes.md lists.

    SHOULD: the baseline reports it as a warning wherever an error is judged; its own test
    (ERROR-CODES-DOCUMENTED) fails on it.
    """
    if obs.parsed is None or obs.parsed.status != "error":
        return not_applicable("not an error answer")
    code = obs.attr("code")
    if not code:
        return not_applicable("the error has no code (check_error_envelope)")
    if code in DOCUMENTED_ERROR_CODES:
        return []
    return [
        fail(
            f"undocumented error code {code!r}",
            obs.exchange,
            "a code from error-codes.md",
            code,
            severity=severity,
        )
    ]


BASELINE_REQUIREMENTS = frozenset(
    {"HTTP-STATUS-200", "INPUT-ROBUST", "ERROR-CODES-DOCUMENTED", "ERROR-ENVELOPE"}
)
"""The requirements :func:`check_api_response` binds its parts to, whatever test saw the answer."""


@check("answer below the baseline")
def check_api_response(obs: Observation, fmt: Format | None = None) -> Baseline:
    """The baseline every answer must meet: HTTP 200, no server error, a well-formed envelope.

    Its parts that verify requirements of their own name them, whatever test saw the answer: a
    5xx fails HTTP-STATUS-200 and INPUT-ROBUST, an error without a code ERROR-ENVELOPE, an
    undocumented code warns ERROR-CODES-DOCUMENTED. Well-formedness and Content-Type stay
    unbound: they are the calling test's requirement.
    """
    if fmt is None and obs.parsed is not None:
        fmt = obs.parsed.format
    fmt = fmt or "xml"
    findings: list[Finding] = bound(findings_of(check_http_status_200(obs)), "HTTP-STATUS-200")
    findings += bound(findings_of(check_no_server_error(obs)), "INPUT-ROBUST")
    findings += check_well_formed(obs, fmt)
    if obs.parsed is not None and obs.parsed.format == fmt:
        undocumented = check_error_code_documented(obs, severity="warning")
        findings += bound(findings_of(undocumented), "ERROR-CODES-DOCUMENTED")
    findings += findings_of(check_content_type(obs, fmt))
    findings += bound(findings_of(check_error_envelope(obs)), "ERROR-ENVELOPE")
    return Baseline(findings)


# ------------------------------------------------------------------ what the envelope says
@check("no token where one was expected")
def check_status_ok(obs: Observation) -> Outcome:
    """A success (status="ok")."""
    if obs.parsed is None:
        return not_applicable("no parsed answer (check_well_formed)")
    if obs.parsed.status == "ok":
        return []
    code = obs.parsed.attributes.get("code", "")
    return [
        fail(
            f"expected a token, got status={obs.parsed.status!r} code={code!r}",
            obs.exchange,
            'status="ok" with a replace_token',
            f"status={obs.parsed.status!r} code={code!r} "
            f"message={obs.parsed.attributes.get('message', '')!r}",
        )
    ]


@check("no error where one was expected")
def check_error(
    obs: Observation,
    codes: Iterable[str] | None = None,
    permission_levels: Iterable[str] | None = None,
) -> Outcome:
    """An error envelope (status/code/message), optionally with a given code and permission level."""
    p = obs.parsed
    if p is None:
        return not_applicable("no parsed answer (check_well_formed)")
    if p.status != "error":
        token = p.fields.get("replace_token")
        return [
            fail(
                f"expected an error, got status={p.status!r}" + (f" and a token {token!r}" if token else ""),
                obs.exchange,
                'status="error"' + (f" code in {sorted(codes)}" if codes else ""),
                f"status={p.status!r}",
            )
        ]
    findings: list[Finding] = []
    code = p.attributes.get("code")
    if codes is not None and code not in set(codes):
        findings.append(
            fail(
                f"error code {code!r}, expected {' or '.join(sorted(codes))}",
                obs.exchange,
                " or ".join(sorted(codes)),
                shown(code),
            )
        )
    if permission_levels is not None:
        level = p.attributes.get("permission_level")
        levels = sorted(permission_levels)
        if level not in levels:
            findings.append(
                fail(
                    f"permission_level {level!r} does not report the caller's "
                    f"actual level ({' or '.join(levels)})",
                    obs.exchange,
                    " or ".join(levels),
                    shown(level),
                )
            )
    return findings


@check("refused with a code the documents do not give for it")
def check_refused_as(obs: Observation, codes: Iterable[str]) -> Outcome:
    """Where a position accepts a refusal, only the documented one: an error's code is in ``codes``.

    A success is another check's to judge (not applicable here). For a correctly signed write-level
    request refused for its input the code is invalid_input, never invalid_signature (the suite's
    signature is right) nor permission_denied (the level is).
    """
    if obs.parsed is None or obs.parsed.status != "error":
        return not_applicable("not an error answer")
    code = obs.attr("code")
    allowed = sorted(codes)
    if code in allowed:
        return []
    return [
        fail(
            f"refused with {shown(code)}, but the refusal the documents give for this is "
            f"{' or '.join(allowed)}",
            obs.exchange,
            " or ".join(allowed),
            shown(code),
        )
    ]


@check("a token was issued where none may be")
def check_no_token(obs: Observation) -> Outcome:
    """No replace_token in the answer."""
    if obs.parsed is None:
        return not_applicable("no parsed answer (check_well_formed)")
    token = obs.field("replace_token")
    if not token:
        return []
    return [fail("a replace_token was issued where none may be", obs.exchange, "no token", token)]


@check("permission_level is not the caller's")
def check_permission_level(obs: Observation, level: str) -> Outcome:
    """The answer reports ``level`` as the caller's permission level."""
    if obs.parsed is None:
        return not_applicable("no parsed answer (check_well_formed)")
    got = obs.attr("permission_level")
    if got == level:
        return []
    return [
        fail(
            f"permission_level {got!r}, expected {level!r}",
            obs.exchange,
            level,
            shown(got),
        )
    ]
