"""Checks: small pure functions from observations to findings, named after what they verify.

A check never sends a request and never raises on bad target behaviour: it returns findings.
Every finding names a requirement, says what was expected and what was seen, and carries the
exchange it was judged on, so the report can show the evidence and a reproduction.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

from conformance.model.exchange import ApiRequest, Exchange
from conformance.model.finding import Finding
from conformance.parse.responses import ParsedResponse, ResponseParseError, parse_response
from conformance.parse.schemas import DOCUMENTED_ERROR_CODES, validate_json_response, validate_xml_response
from conformance.spec import GET_REPLACE_TOKEN

TOKEN_FIELDS = ("replace_token", "photo_id", "max_uploads", "valid_minutes", "valid_until")
VALID_MINUTES = (15, 1440, 180)  # min, max, default
MAX_UPLOADS = (1, 100, 1)
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


@dataclass
class Observation:
    """An exchange with its body parsed once (or the reason it could not be)."""

    exchange: Exchange
    parsed: ParsedResponse | None
    parse_error: str | None

    @property
    def ok(self) -> bool:
        return self.parsed is not None and self.parsed.status == "ok"

    def field(self, name: str) -> str | None:
        return self.parsed.fields.get(name) if self.parsed else None

    def attr(self, name: str) -> str | None:
        return self.parsed.attributes.get(name) if self.parsed else None


def _finding(
    req: str,
    check: str,
    message: str,
    ex: Exchange | None,
    expected: str = "",
    observed: str = "",
    severity: Literal["error", "warning"] = "error",
) -> Finding:
    return Finding(req, check, message, expected, observed, ex, severity)


def observe(exchange: Exchange, expected: Literal["xml", "json"] | None = None) -> Observation:
    """Parse the response body once; a parse failure is kept as text for the checks to judge."""
    resp = exchange.response
    if resp is None:
        return Observation(exchange, None, exchange.error or "no response")
    if resp.truncated:
        return Observation(
            exchange,
            None,
            f"response body exceeds the size cap ({len(resp.body)} bytes read; "
            "the cap is [limits] max_body_bytes)",
        )
    try:
        return Observation(exchange, parse_response(resp.body, expected), None)
    except ResponseParseError as exc:
        return Observation(exchange, None, str(exc))


# ------------------------------------------------------------------ transport-level checks
def check_http_status_200(obs: Observation, req: str = "HTTP-STATUS-200") -> list[Finding]:
    resp = obs.exchange.response
    if resp is not None and resp.status != 200:
        return [
            _finding(
                req,
                "check_http_status_200",
                f"HTTP status {resp.status}, expected 200",
                obs.exchange,
                "HTTP 200 for success and error alike",
                f"HTTP {resp.status} {resp.reason}",
            )
        ]
    return []


def check_no_server_error(
    obs: Observation, req: str = "INPUT-ROBUST", *, plain_text: bool = False
) -> list[Finding]:
    """No 5xx, no stack trace or interpreter warning leaking into the body.

    A marker that the request itself carried (an echoed return_url, say) is not evidence.
    ``plain_text``: the body is a plain message (a redeem answer), where "Warning: token expired"
    is ordinary wording; there "Warning: " counts only in PHP's shape ("... in FILE on line N").
    """
    resp = obs.exchange.response
    findings: list[Finding] = []
    if resp is None:
        return findings
    if resp.status >= 500:
        findings.append(
            _finding(
                req,
                "check_no_server_error",
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
            findings.append(
                _finding(
                    req,
                    "check_no_server_error",
                    f"body contains a stack trace marker {marker!r}",
                    obs.exchange,
                    "no internal error details",
                    _excerpt(text, marker),
                )
            )
            break
    return findings


def check_well_formed(obs: Observation, fmt: Literal["xml", "json"], req: str) -> list[Finding]:
    """The body parses as the expected format and validates against the shipped schema."""
    if obs.parsed is None:
        return [
            _finding(
                req,
                "check_well_formed",
                f"response is not a well-formed {fmt.upper()} API response: {obs.parse_error}",
                obs.exchange,
                f"a {fmt.upper()} <response>",
                obs.parse_error or "",
            )
        ]
    if obs.parsed.format != fmt:
        return [
            _finding(
                req,
                "check_well_formed",
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
        _finding(
            req if v.severity == "error" else "ERROR-CODES-DOCUMENTED",
            "check_well_formed",
            f"schema: {v.path}: {v.message}",
            obs.exchange,
            "valid against the shipped schema",
            v.path,
            severity=v.severity,
        )
        for v in violations
    ]


def check_json_wrapper(obs: Observation, wrapper: str, name: str | None, req: str) -> list[Finding]:
    """The JSON body is wrapped as asked: var NAME = ...; / NAME(...); / bare; errors as much as successes.

    A client reads every answer through the wrapper it asked for: a JSONP error in 'var visual' is
    never seen. (A name that is not an identifier may be refused in the default wrapper: callers
    judge such names with check_name_not_reflected instead.)
    """
    if obs.parsed is None or obs.parsed.format != "json":
        return []
    got = (obs.parsed.wrapper, obs.parsed.wrapper_name)
    if got[0] != wrapper or (name is not None and got[1] != name):
        want = {"var": f"var {name} = {{...}};", "callback": f"{name}({{...}});", "raw": "{...}"}[wrapper]
        seen = {"var": f"var {got[1]} = ...", "callback": f"{got[1]}(...)", "raw": "bare JSON"}.get(
            got[0], got[0]
        )
        return [
            _finding(
                req,
                "check_json_wrapper",
                f"JSON wrapper is {seen}, expected {want}",
                obs.exchange,
                want,
                seen,
            )
        ]
    return []


def check_content_type(obs: Observation, fmt: Literal["xml", "json"], req: str) -> list[Finding]:
    """Content-Type names a type a client can treat as the format (lenient: labels vary in practice)."""
    resp = obs.exchange.response
    if resp is None:
        return []
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    allowed = {
        "xml": ("text/xml", "application/xml"),
        "json": (
            "text/javascript",
            "application/javascript",
            "application/json",
            "application/x-javascript",
            "text/plain",
        ),
    }[fmt]
    if ctype and ctype not in allowed and not ctype.endswith("+xml" if fmt == "xml" else "+json"):
        return [
            _finding(
                req,
                "check_content_type",
                f"Content-Type {ctype!r} is not a {fmt.upper()} type",
                obs.exchange,
                " or ".join(allowed),
                ctype,
                severity="warning",
            )
        ]
    return []


# ------------------------------------------------------------------ envelope checks
def check_status_ok(obs: Observation, req: str) -> list[Finding]:
    if obs.parsed is None:
        return []
    if obs.parsed.status != "ok":
        code = obs.parsed.attributes.get("code", "")
        return [
            _finding(
                req,
                "check_status_ok",
                f"expected a token, got status={obs.parsed.status!r} code={code!r}",
                obs.exchange,
                'status="ok" with a replace_token',
                f"status={obs.parsed.status!r} code={code!r} "
                f"message={obs.parsed.attributes.get('message', '')!r}",
            )
        ]
    return []


def check_error(
    obs: Observation,
    req: str,
    codes: Iterable[str] | None = None,
    permission_levels: Iterable[str] | None = None,
) -> list[Finding]:
    """An error envelope (status/code/message), optionally with a given code and permission level."""
    if obs.parsed is None:
        return []
    findings: list[Finding] = []
    p = obs.parsed
    if p.status != "error":
        token = p.fields.get("replace_token")
        return [
            _finding(
                req,
                "check_error",
                f"expected an error, got status={p.status!r}" + (f" and a token {token!r}" if token else ""),
                obs.exchange,
                'status="error"' + (f" code in {sorted(codes)}" if codes else ""),
                f"status={p.status!r}",
            )
        ]
    code = p.attributes.get("code")
    if codes is not None and code not in set(codes):
        findings.append(
            _finding(
                req,
                "check_error",
                f"error code {code!r}, expected {' or '.join(sorted(codes))}",
                obs.exchange,
                " or ".join(sorted(codes)),
                str(code),
            )
        )
    if permission_levels is not None:
        level = p.attributes.get("permission_level")
        levels = sorted(permission_levels)
        if level not in levels:
            findings.append(
                _finding(
                    req,
                    "check_error",
                    f"permission_level {level!r} does not report the caller's "
                    f"actual level ({' or '.join(levels)})",
                    obs.exchange,
                    " or ".join(levels),
                    str(level),
                )
            )
    return findings


def check_error_envelope(obs: Observation, req: str = "ERROR-ENVELOPE") -> list[Finding]:
    """Every error carries status, a non-empty code and a message."""
    if obs.parsed is None or obs.parsed.status != "error":
        return []
    missing = [k for k in ("code", "message") if not obs.parsed.attributes.get(k)]
    if missing:
        return [
            _finding(
                req,
                "check_error_envelope",
                f"error response lacks {', '.join(missing)}",
                obs.exchange,
                "status, code and message",
                repr(obs.parsed.attributes),
            )
        ]
    return []


def check_error_code_documented(obs: Observation, req: str = "ERROR-CODES-DOCUMENTED") -> list[Finding]:
    code = obs.attr("code") if obs.parsed and obs.parsed.status == "error" else None
    if code and code not in DOCUMENTED_ERROR_CODES:
        return [
            _finding(
                req,
                "check_error_code_documented",
                f"undocumented error code {code!r}",
                obs.exchange,
                "a code from error-codes.md",
                code,
            )
        ]
    return []


def check_api_response(obs: Observation, fmt: Literal["xml", "json"] | None, req: str) -> list[Finding]:
    """The baseline every answer must meet: HTTP 200, no server error, a well-formed envelope."""
    findings = check_http_status_200(obs) + check_no_server_error(obs)
    if fmt is None and obs.parsed is not None:
        fmt = obs.parsed.format
    findings += check_well_formed(obs, fmt or "xml", req)
    findings += check_content_type(obs, fmt or "xml", req) + check_error_envelope(obs)
    return findings


def check_no_token(obs: Observation, req: str) -> list[Finding]:
    token = obs.field("replace_token")
    if token:
        return [
            _finding(
                req,
                "check_no_token",
                "a replace_token was issued where none may be",
                obs.exchange,
                "no token",
                token,
            )
        ]
    return []


def check_permission_level(obs: Observation, level: str, req: str) -> list[Finding]:
    got = obs.attr("permission_level")
    if obs.parsed is not None and got != level:
        return [
            _finding(
                req,
                "check_permission_level",
                f"permission_level {got!r}, expected {level!r}",
                obs.exchange,
                level,
                str(got),
            )
        ]
    return []


def check_cached_zero(obs: Observation, req: str = "RESPONSE-CACHED-ZERO") -> list[Finding]:
    cached = obs.attr("cached")
    if obs.ok and cached != "0":
        return [
            _finding(
                req,
                "check_cached_zero",
                f"signed request answered with cached={cached!r}",
                obs.exchange,
                'cached="0"',
                str(cached),
            )
        ]
    return []


def check_token_fields(obs: Observation, request: ApiRequest, req: str = "RESPONSE-FIELDS") -> list[Finding]:
    """All documented fields of a success are present (return_url when one was sent)."""
    if not obs.ok:
        return []
    assert obs.parsed is not None
    wanted = list(TOKEN_FIELDS)
    if request.param("return_url"):
        wanted.append("return_url")
    missing = [f for f in wanted if f not in obs.parsed.fields]
    missing += [a for a in ("status", "permission_level") if a not in obs.parsed.attributes]
    if missing:
        return [
            _finding(
                req,
                "check_token_fields",
                f"missing documented field(s): {', '.join(missing)}",
                obs.exchange,
                ", ".join(wanted),
                ", ".join(sorted(obs.parsed.fields)),
            )
        ]
    return []


def check_json_envelope(obs: Observation, req: str = "RESPONSE-JSON-ENVELOPE") -> list[Finding]:
    if not obs.ok or obs.parsed is None or obs.parsed.format != "json":
        return []
    doc = obs.parsed.document
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get("replacetoken"), dict):
        problems.append("token fields are not wrapped in a 'replacetoken' object")
    if isinstance(doc, dict) and doc.get("endpoint") != GET_REPLACE_TOKEN:
        problems.append(f"endpoint is {doc.get('endpoint')!r}, expected {GET_REPLACE_TOKEN!r}")
    if isinstance(doc, dict) and not isinstance(doc.get("site"), dict):
        problems.append("no 'site' object")
    return [
        _finding(
            req,
            "check_json_envelope",
            p,
            obs.exchange,
            "replacetoken{...}, endpoint, site{...}",
            _short_json(doc),
        )
        for p in problems
    ]


def check_echo(obs: Observation, request: ApiRequest, req: str = "RESPONSE-ECHO") -> list[Finding]:
    """photo_id and return_url come back exactly as sent."""
    if not obs.ok:
        return []
    findings = []
    for name in ("photo_id", "return_url"):
        sent = request.param(name)
        got = obs.field(name)
        if name == "return_url" and not sent:
            if got not in (None, ""):
                findings.append(
                    _finding(
                        req,
                        "check_echo",
                        "return_url echoed although none was sent",
                        obs.exchange,
                        "empty or absent",
                        repr(got),
                    )
                )
            continue
        if got != sent:
            findings.append(
                _finding(req, "check_echo", f"{name} not echoed exactly", obs.exchange, repr(sent), repr(got))
            )
    return findings


def check_echo_or_refused(
    obs: Observation,
    request: ApiRequest,
    req: str = "RESPONSE-ECHO",
    codes: frozenset[str] = frozenset({"invalid_input"}),
) -> list[Finding]:
    """Input a server may validate (a return_url that is not a URL): echoed exactly, or refused."""
    if obs.parsed is None:
        return []
    return check_echo(obs, request, req) if obs.ok else check_error(obs, req, codes=codes)


def _int_field(obs: Observation, name: str) -> int | None:
    value = obs.field(name)
    return int(value) if value is not None and re.fullmatch(r"[0-9]{1,30}", value) else None


def check_numeric_field(obs: Observation, name: str, expected: int, req: str) -> list[Finding]:
    if not obs.ok:
        return []
    got = obs.field(name)
    if _int_field(obs, name) != expected:
        return [
            _finding(
                req,
                "check_numeric_field",
                f"{name} is {got!r}, expected {expected}",
                obs.exchange,
                str(expected),
                repr(got),
            )
        ]
    return []


def check_within_bounds(obs: Observation, req: str = "PARAMS-OUT-OF-RANGE") -> list[Finding]:
    """No token is ever issued with valid_minutes or max_uploads outside the documented bounds."""
    if not obs.ok:
        return []
    findings = []
    for name, (lo, hi, _) in (("valid_minutes", VALID_MINUTES), ("max_uploads", MAX_UPLOADS)):
        value = _int_field(obs, name)
        if value is None or not lo <= value <= hi:
            findings.append(
                _finding(
                    req,
                    "check_within_bounds",
                    f"token issued with {name}={obs.field(name)!r}, outside {lo}..{hi}",
                    obs.exchange,
                    f"{lo}..{hi}",
                    repr(obs.field(name)),
                )
            )
    return findings


def check_bounds_policy(
    obs: Observation, name: str, sent: int, policy: str, req: str = "PARAMS-OUT-OF-RANGE"
) -> list[Finding]:
    """An out-of-range value is clamped to the nearest bound or rejected, as the vendor declared."""
    lo, hi, _ = VALID_MINUTES if name == "valid_minutes" else MAX_UPLOADS
    nearest = lo if sent < lo else hi
    if obs.parsed is None:
        return []
    if obs.parsed.status == "error":
        if policy == "clamp":
            return [
                _finding(
                    req,
                    "check_bounds_policy",
                    f"{name}={sent} was rejected, but bounds_policy is 'clamp'",
                    obs.exchange,
                    f"a token with {name}={nearest}",
                    f"error {obs.attr('code')!r}",
                )
            ]
        return []
    if policy == "reject":
        return [
            _finding(
                req,
                "check_bounds_policy",
                f"{name}={sent} was accepted, but bounds_policy is 'reject'",
                obs.exchange,
                "an error",
                f"a token with {name}={obs.field(name)!r}",
            )
        ]
    return check_numeric_field(obs, name, nearest, req)


def check_formats_agree(
    xml: Observation, json_: Observation, req: str = "FORMAT-XML-JSON-AGREE"
) -> list[Finding]:
    """XML and JSON answers to the same request carry the same values (token and issue time aside)."""
    if not (xml.ok and json_.ok):
        return []
    findings = []
    pairs = [
        (n, xml.field(n) or "", json_.field(n) or "")
        for n in ("photo_id", "max_uploads", "valid_minutes", "return_url")
    ]
    pairs += [(n, xml.attr(n), json_.attr(n)) for n in ("status", "permission_level", "cached")]
    for name, a, b in pairs:
        if a != b:
            findings.append(
                _finding(
                    req,
                    "check_formats_agree",
                    f"{name} differs: XML {a!r}, JSON {b!r}",
                    json_.exchange,
                    f"XML and JSON equal ({a!r})",
                    repr(b),
                )
            )
    ua, ub = _int_field(xml, "valid_until"), _int_field(json_, "valid_until")
    if ua is not None and ub is not None:
        gap = abs(json_.exchange.finished_at - xml.exchange.started_at) + 5
        if abs(ua - ub) > gap:
            findings.append(
                _finding(
                    req,
                    "check_formats_agree",
                    f"valid_until differs by {abs(ua - ub)}s between formats",
                    json_.exchange,
                    f"within {gap:.0f}s of {ua}",
                    str(ub),
                )
            )
    for f in findings:  # the report shows both answers, not only the JSON one
        f.related = xml.exchange
    return findings


# ------------------------------------------------------------------ time
def server_time(ex: Exchange) -> int | None:
    """The server's clock from its Date header (None when absent or unparsable)."""
    date = ex.response.header("Date") if ex.response else None
    if not date:
        return None
    try:
        return int(parsedate_to_datetime(date).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def check_valid_until(
    obs: Observation, valid_minutes: int, skew: float, req: str = "TIME-VALID-UNTIL"
) -> list[Finding]:
    """valid_until = issue time + valid_minutes*60, issue time read from Date (or local clock + skew)."""
    if not obs.ok:
        return []
    ex = obs.exchange
    raw = obs.field("valid_until")
    until = _int_field(obs, "valid_until")
    if until is None:
        return [
            _finding(
                req,
                "check_valid_until",
                f"valid_until {raw!r} is not integer Unix seconds",
                ex,
                "decimal digits",
                repr(raw),
            )
        ]
    rtt = max(0.0, ex.finished_at - ex.started_at)
    date = server_time(ex)
    if date is not None:
        lo, hi = date - 2 - rtt, date + 1
        basis = f"Date header {date}"
    else:
        lo, hi = ex.started_at + skew, ex.finished_at + skew
        basis = f"local clock corrected by measured skew {skew:+.1f}s"
    tol = 5 + rtt
    issue = until - valid_minutes * 60
    if not (lo - tol <= issue <= hi + tol):
        return [
            _finding(
                req,
                "check_valid_until",
                f"valid_until {until} implies issue time {issue}, {issue - (lo + hi) / 2:+.0f}s from the "
                f"server time ({basis}) for valid_minutes={valid_minutes}",
                ex,
                f"{int((lo + hi) / 2) + valid_minutes * 60} ± {tol:.0f}s",
                str(until),
            )
        ]
    return []


MONOTONIC_TOLERANCE = 5.0
"""Seconds valid_until may step back: load-balanced nodes' clocks differ by a second or two."""


def check_non_decreasing(
    observations: Sequence[Observation],
    req: str = "TIME-MONOTONIC",
    tolerance: float = MONOTONIC_TOLERANCE,
) -> list[Finding]:
    """Sequential tokens with the same valid_minutes never fall more than ``tolerance`` behind.

    Each answer is compared with the latest valid_until seen so far, so small steps back (nodes
    whose clocks differ slightly) cannot add up to a large one unnoticed.
    """
    latest: int | None = None
    for obs in observations:
        value = _int_field(obs, "valid_until") if obs.ok else None
        if value is None:
            continue
        if latest is not None and value < latest - tolerance:
            return [
                _finding(
                    req,
                    "check_non_decreasing",
                    f"valid_until went backwards by {latest - value}s: {latest} then {value} "
                    f"(tolerance {tolerance:g}s)",
                    obs.exchange,
                    f">= {latest - tolerance:.0f}",
                    str(value),
                )
            ]
        latest = value if latest is None else max(latest, value)
    return []


def measure_skew(exchanges: Iterable[Exchange]) -> float | None:
    """Server clock minus local clock (seconds), from Date headers; None when the target sends none."""
    samples = []
    for ex in exchanges:
        date = server_time(ex)
        if date is not None:
            samples.append(date + 0.5 - (ex.started_at + ex.finished_at) / 2)
    if not samples:
        return None
    samples.sort()
    return samples[len(samples) // 2]


# ------------------------------------------------------------------ tokens
def check_tokens_unique(observations: Sequence[Observation], req: str = "TOKEN-UNIQUE") -> list[Finding]:
    seen: dict[str, Observation] = {}
    for obs in observations:
        token = obs.field("replace_token") if obs.ok else None
        if not token:
            continue
        if token in seen:
            return [
                _finding(
                    req,
                    "check_tokens_unique",
                    f"replace_token {token!r} was issued twice",
                    obs.exchange,
                    "a fresh token per call",
                    token,
                )
            ]
        seen[token] = obs
    return []


def check_token_issued(obs: Observation, req: str) -> list[Finding]:
    """The answer a token test reasons about: a parsed success that carries a replace_token.

    Tests that judge tokens call this first, so an error (or unparsable) answer can never pass
    them by carrying no token to judge.
    """
    if obs.parsed is None:
        return [
            _finding(
                req,
                "check_token_issued",
                f"no API answer to judge: {obs.parse_error}",
                obs.exchange,
                'status="ok" with a replace_token',
                obs.parse_error or "",
            )
        ]
    if not obs.ok:
        return check_status_ok(obs, req)
    if not obs.field("replace_token"):
        return [
            _finding(
                req,
                "check_token_issued",
                "a success without a replace_token",
                obs.exchange,
                "a non-empty replace_token",
                repr(obs.field("replace_token")),
            )
        ]
    return []


_STANDARD_ALPHABETS = tuple(
    sorted(
        {
            "0123456789",
            "0123456789abcdef",
            "0123456789ABCDEF",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",  # base32 (RFC 4648)
            "abcdefghijklmnopqrstuvwxyz234567",
            "0123456789ABCDEFGHIJKLMNOPQRSTUV",  # base32hex
            "0123456789abcdefghijklmnopqrstuv",
            "0123456789ABCDEFGHJKMNPQRSTVWXYZ",  # Crockford base32 (ULID)
            "0123456789abcdefghijklmnopqrstuvwxyz",
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            string.ascii_letters + string.digits,
            string.ascii_letters + string.digits + "-_",  # base64url
            string.ascii_letters + string.digits + "+/",  # base64
        },
        key=lambda a: (len(a), a),
    )
)


def token_alphabet_size(tokens: Sequence[str]) -> int:
    """How many symbols one random token position can take, judged from a sample.

    Only positions that vary count (a UUID's dashes and version digit say nothing about the
    alphabet). The symbols seen are rounded up to a standard alphabet (hex, base32, base64url...)
    of either case when they fill at least three quarters of it: a small sample of random
    base64url tokens rarely shows all 64 symbols, and must not be taken for a weaker alphabet.
    """
    if not tokens:
        return 0
    length = min(len(t) for t in tokens)
    varying = [p for p in range(length) if len({t[p] for t in tokens}) > 1]
    seen = {t[p] for t in tokens for p in varying} | {c for t in tokens for c in t[length:]}
    for alphabet in _STANDARD_ALPHABETS:
        if seen <= set(alphabet) and len(seen) >= 0.75 * len(alphabet):
            return len(alphabet)
    return len(seen)


def estimate_entropy_bits(tokens: Sequence[str]) -> float:
    """Positional entropy estimate: log2(alphabet) for each position that varies like random data would.

    A position counts fully only when the sample shows at least half the distinct symbols that
    uniform random draws would; otherwise it counts log2 of the symbols it does show (a UUID4's
    variant digit, one of four, gives 2 bits; its fixed version digit 0). This does not
    underestimate a uniform token of any standard alphabet (unlike a plug-in Shannon estimate on
    a small sample).
    """
    if len(tokens) < 2:
        return 0.0
    size = token_alphabet_size(tokens)
    if size < 2:
        return 0.0
    n = len(tokens)
    length = min(len(t) for t in tokens)
    expected_distinct = size * (1 - (1 - 1 / size) ** n)
    bits = 0.0
    for pos in range(length):
        distinct = len({t[pos] for t in tokens})
        bits += (
            math.log2(size)
            if distinct >= expected_distinct / 2
            else math.log2(distinct)
            if distinct > 1
            else 0
        )
    return bits


_DERIVATIONS = {
    "md5": lambda s: hashlib.md5(s.encode()).hexdigest(),
    "sha1": lambda s: hashlib.sha1(s.encode()).hexdigest(),
    "sha256": lambda s: hashlib.sha256(s.encode()).hexdigest(),
}
MIN_ENTROPY_BITS = 64.0
"""The MUST floor of estimated entropy (OWASP's minimum for session identifiers)."""
RECOMMENDED_ENTROPY_BITS = 128.0
"""Below this a token passes TOKEN-UNPREDICTABLE but gets a TOKEN-ENTROPY-128 warning."""
CHANCE_LEVEL = 1e-6
"""A derivation is reported only when chance would show it in that many tokens less often than this."""


def check_tokens_unpredictable(
    observations: Sequence[Observation],
    photo_id: str,
    req: str = "TOKEN-UNPREDICTABLE",
    min_bits: float = MIN_ENTROPY_BITS,
) -> list[Finding]:
    """No sequence, no embedded photo_id or time, no known hash of them, and enough estimated entropy."""
    pairs = [(o, o.field("replace_token") or "") for o in observations if o.ok and o.field("replace_token")]
    if len(pairs) < 8:
        return []
    tokens = [t for _, t in pairs]
    first = pairs[0][0].exchange
    findings: list[Finding] = []
    # Sequence: tokens read as numbers (hex or decimal) sit close together once sorted (counters,
    # timestamps); this holds whatever order concurrent requests were issued in.
    for base in (10, 16):
        try:
            values = sorted(int(t, base) for t in tokens)
        except ValueError:
            continue
        steps = [b - a for a, b in itertools.pairwise(values)]
        small = sum(1 for d in steps if d < 2**32)
        if small >= len(steps) // 2:
            findings.append(
                _finding(
                    req,
                    "check_tokens_unpredictable",
                    f"tokens form a sequence (base {base}: {small} of {len(steps)} gaps between "
                    "sorted tokens are below 2^32)",
                    first,
                    "independent random tokens",
                    ", ".join(tokens[:4]),
                )
            )
            break
    # Structure shared with photo_id or the issue time: flagged only when most tokens show it AND
    # chance would not (a short photo_id such as "7" sits inside most random hex tokens).
    alphabet = token_alphabet_size(tokens)
    hits: dict[str, list[tuple[Exchange, str, float]]] = {}
    for obs, token in pairs:
        for kind, text, candidates in _derivation(obs.exchange, token, photo_id):
            p = _chance_of_substring(len(token), len(text), alphabet, candidates)
            hits.setdefault(kind, []).append((obs.exchange, token, p))
    for kind, found in hits.items():
        chance = max(p for _, _, p in found)
        if (
            len(found) >= max(2, len(pairs) // 2)
            and _binomial_tail(len(pairs), len(found), chance) < CHANCE_LEVEL
        ):
            findings.append(
                _finding(
                    req,
                    "check_tokens_unpredictable",
                    f"{len(found)} of {len(pairs)} tokens are derived from {kind} "
                    f"(chance would explain {len(pairs) * chance:.2g})",
                    found[0][0],
                    "tokens independent of photo_id and time",
                    found[0][1],
                )
            )
    bits = estimate_entropy_bits(tokens)
    if bits < min_bits:
        findings.append(
            _finding(
                req,
                "check_tokens_unpredictable",
                f"estimated entropy {bits:.0f} bits from {len(tokens)} tokens, below {min_bits:.0f}",
                first,
                f">= {min_bits:.0f} bits",
                f"{bits:.0f} bits; e.g. {tokens[0]!r}",
            )
        )
    return findings


def check_tokens_entropy_recommended(
    observations: Sequence[Observation],
    req: str = "TOKEN-ENTROPY-128",
    min_bits: float = RECOMMENDED_ENTROPY_BITS,
) -> list[Finding]:
    """SHOULD: at least 128 estimated bits, else a warning (the MUST floor is TOKEN-UNPREDICTABLE)."""
    tokens = [o.field("replace_token") or "" for o in observations if o.ok and o.field("replace_token")]
    if len(tokens) < 8:
        return []
    bits = estimate_entropy_bits(tokens)
    if bits < min_bits:
        return [
            _finding(
                req,
                "check_tokens_entropy_recommended",
                f"estimated entropy {bits:.0f} bits from {len(tokens)} tokens, below the recommended "
                f"{min_bits:.0f}",
                observations[0].exchange,
                f">= {min_bits:.0f} bits",
                f"{bits:.0f} bits; e.g. {tokens[0]!r}",
                severity="warning",
            )
        ]
    return []


def _chance_of_substring(token_len: int, text_len: int, alphabet: int, candidates: int = 1) -> float:
    """Probability that a uniform random token contains one of ``candidates`` given strings by chance."""
    places = token_len - text_len + 1
    if places <= 0 or alphabet < 2:
        return 0.0
    return min(1.0, candidates * places * float(alphabet) ** -text_len)


def _binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if p <= 0.0:
        return 0.0 if k > 0 else 1.0
    if p >= 1.0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def _derivation(ex: Exchange, token: str, photo_id: str) -> list[tuple[str, str, int]]:
    """Every known weak construction a token matches: (kind, the text found, candidates tried).

    The photo_id or the issue time inside the token, or an md5/sha1/sha256 hex digest of them.
    Whether a plain match means anything is for the caller to judge against chance.
    """
    moments = {str(int(t)) for t in (ex.started_at, ex.finished_at)}
    date = server_time(ex)
    if date is not None:
        moments |= {str(date + d) for d in range(-2, 3)}
    lowered = token.lower()
    found: list[tuple[str, str, int]] = []
    if photo_id and photo_id in token:
        found.append(("the photo_id", photo_id, 1))
    for m in sorted(moments):
        text = m if m in token else format(int(m), "x") if format(int(m), "x") in lowered else None
        if text:
            found.append(("the issue time", text, 2 * len(moments)))
            break
    candidates = [("photo_id", photo_id)]
    for m in sorted(moments):
        candidates += [
            ("time", m),
            ("photo_id + time", f"{photo_id}{m}"),
            ("time + photo_id", f"{m}{photo_id}"),
        ]
    for label, c in candidates:
        for name, fn in _DERIVATIONS.items():
            digest = fn(c)
            if digest in lowered:
                found.append((f"{name}({label})", digest, 1))
                return found
    return found


# ------------------------------------------------------------------ injection
def is_js_name(name: str) -> bool:
    """A JavaScript identifier path (Unicode letters allowed, as in JS); such a name is safe to reflect."""
    return bool(name) and all(part.replace("$", "_").isidentifier() for part in name.split("."))


def check_name_not_reflected(obs: Observation, name: str, req: str = "FORMAT-CALLBACK-SAFE") -> list[Finding]:
    """A callback/varname that is not an identifier must not be emitted as script anywhere in the body.

    A body that parses as a JSON answer is fully accounted for (comments, one identifier as wrapper,
    JSON whose strings are inert), so there only its wrapper name can reflect the name. Any other body
    is searched whole, outside JSON string literals: '/**/alert(1);//({...})' reflects the name after
    its start. Names shorter than 3 characters occur by chance and cannot carry a script: not judged.
    """
    resp = obs.exchange.response
    if resp is None or is_js_name(name):
        return []
    text = resp.body.decode("utf-8", errors="replace")
    if obs.parsed is not None:
        reflected = obs.parsed.format == "json" and obs.parsed.wrapper_name == name
        at = 0
    else:
        at = _outside_json_strings(text, name) if len(name) >= 3 else -1
        reflected = at >= 0
    if reflected:
        return [
            _finding(
                req,
                "check_name_not_reflected",
                "a non-identifier callback/varname was reflected as script",
                obs.exchange,
                "refused or ignored",
                text[max(0, at - 20) : at + 180],
            )
        ]
    return []


_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _outside_json_strings(text: str, needle: str) -> int:
    """The first offset where ``needle`` occurs not wholly inside a JSON string literal, or -1."""
    spans = [m.span() for m in _JSON_STRING.finditer(text)]  # sorted, never overlapping
    starts = [lo for lo, _ in spans]
    at = text.find(needle)
    while at >= 0:
        i = bisect.bisect_left(starts, at) - 1  # the last literal opening before the occurrence
        if i < 0 or at + len(needle) >= spans[i][1]:
            return at
        at = text.find(needle, at + 1)
    return -1


# ------------------------------------------------------------------ helpers
def _excerpt(text: str, marker: str, width: int = 160) -> str:
    i = text.find(marker)
    return text[max(0, i - 20) : i + width]


def _short_json(doc: object, limit: int = 300) -> str:
    text = repr(doc)
    return text if len(text) <= limit else text[:limit] + "…"
