"""``conformance replay``: re-send one request signed afresh and re-judge the answer.

A developer fixing a finding loops on one command: the replay command printed in the reports names
the requirement and the check that failed (``--requirement ID --check NAME``), and replay runs that
check (with the baseline every answer must meet) on the fresh answer. Exit 0 when it holds, 1 with the
finding when it does not, 2 for a usage or config error, 3 when the target does not answer.

Only checks whose expectation follows from the request and the config alone are re-judged here; a
check that needs several answers (token uniqueness, say) is named as not re-judged, and the baseline
still decides the exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from conformance import checks
from conformance.checks import MAX_UPLOADS, VALID_MINUTES, Finding, Observation
from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest
from conformance.transport.client import TargetClient, TransportError

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
# Checks that judge the baseline of any answer (HTTP 200, well-formed, labelled, enveloped).
BASELINE_CHECKS = frozenset(
    {
        "check_api_response",
        "check_http_status_200",
        "check_no_server_error",
        "check_well_formed",
        "check_content_type",
        "check_error_envelope",
        "server_error",
        "transport",
    }
)


def _fmt(req: ApiRequest) -> str:
    return "json" if req.param("format") == "json" else "xml"


def _params(obs: Observation, req: ApiRequest, config: TargetConfig, rid: str) -> list[Finding]:
    """valid_minutes / max_uploads: the default, the value sent, or the declared bounds policy."""
    found: list[Finding] = []
    for name, (lo, hi, default) in (("valid_minutes", VALID_MINUTES), ("max_uploads", MAX_UPLOADS)):
        sent = req.param(name)
        if not sent:
            found += checks.check_numeric_field(obs, name, default, rid)
        elif sent.lstrip("-").isdigit():
            value = int(sent)
            if lo <= value <= hi:
                found += checks.check_numeric_field(obs, name, value, rid)
            else:
                found += checks.check_bounds_policy(obs, name, value, config.bounds_policy, rid)
    return found


def _names(obs: Observation, req: ApiRequest, rid: str) -> list[Finding]:
    return [
        f
        for key in ("callback", "varname")
        if req.param(key) and not checks.is_js_name(req.param(key) or "")
        for f in checks.check_name_not_reflected(obs, req.param(key) or "", rid)
    ]


def _wrapper(obs: Observation, req: ApiRequest, config: TargetConfig, rid: str) -> list[Finding]:
    """format=json: wrapped as asked (callback, then raw, then varname, else ``var visual``).

    A name that is not a JavaScript identifier may be refused or ignored (both safe): not judged here.
    """
    given = dict(req.params)
    names = [given[k] for k in ("callback", "varname") if k in given]
    if req.param("format") != "json" or any(not checks.is_js_name(n) for n in names):
        return []
    if "callback" in given:
        return checks.check_json_wrapper(obs, "callback", given["callback"], rid)
    if "raw" in given:
        return checks.check_json_wrapper(obs, "raw", None, rid)
    return checks.check_json_wrapper(obs, "var", given.get("varname", "visual"), rid)


Judge = Callable[[Observation, ApiRequest, TargetConfig, str], list[Finding]]
JUDGES: dict[str, Judge] = {
    "check_json_wrapper": _wrapper,
    "check_numeric_field": _params,
    "check_bounds_policy": _params,
    "check_within_bounds": lambda obs, req, cfg, rid: checks.check_within_bounds(obs, rid),
    "check_echo": lambda obs, req, cfg, rid: checks.check_echo_or_refused(obs, req, rid),
    "check_cached_zero": lambda obs, req, cfg, rid: checks.check_cached_zero(obs, rid),
    "check_token_fields": lambda obs, req, cfg, rid: checks.check_token_fields(obs, req, rid),
    "check_json_envelope": lambda obs, req, cfg, rid: checks.check_json_envelope(obs, rid),
    "check_status_ok": lambda obs, req, cfg, rid: checks.check_status_ok(obs, rid),
    "check_name_not_reflected": lambda obs, req, cfg, rid: _names(obs, req, rid),
}
PAIR_CHECKS = frozenset({"check_formats_agree"})  # judged on the XML and the JSON answer together
REJUDGED = BASELINE_CHECKS | JUDGES.keys() | PAIR_CHECKS


def rejudge(
    observations: list[Observation], req: ApiRequest, config: TargetConfig, requirement: str, check: str
) -> list[Finding]:
    """The baseline of every answer, then the named check; errors only."""
    found: list[Finding] = []
    for obs in observations:
        req_sent = obs.exchange.request or req
        found += checks.check_api_response(obs, _fmt(req_sent), requirement)  # type: ignore[arg-type]
    if check in PAIR_CHECKS and len(observations) == 2:
        found += checks.check_formats_agree(observations[0], observations[1], requirement)
    elif check in JUDGES:
        found += JUDGES[check](observations[-1], req, config, requirement)
    return [f for f in found if f.severity == "error"]


def _print_exchange(obs: Observation) -> None:
    ex = obs.exchange
    assert ex.response is not None
    print(f"{ex.method} {ex.url}")
    print(f"HTTP {ex.response.status} {ex.response.reason}")
    for k, v in ex.response.headers:
        print(f"{k}: {v}")
    print()
    print(ex.response.text)


def run_replay(req: ApiRequest, config: TargetConfig, requirement: str | None, check: str | None) -> int:
    """Send (both formats for an XML/JSON agreement check), print, re-judge; the exit code."""
    import sys

    pair = check in PAIR_CHECKS
    reqs = [req.with_params(format=None), req.with_params(format="json")] if pair else [req]
    client = TargetClient(config)
    try:
        exchanges = client.send_many(reqs) if pair else [client.send(req)]
    except TransportError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        client.close()
    observations = [checks.observe(ex, _fmt(r)) for ex, r in zip(exchanges, reqs, strict=True)]
    for n, obs in enumerate(observations):
        if n:
            print()
        _print_exchange(obs)
    rid = requirement or "HTTP-STATUS-200"
    found = rejudge(observations, reqs[-1], config, rid, check or "check_api_response")
    print(file=sys.stderr)
    if check and check not in REJUDGED:
        print(
            f"conformance replay: {check} needs more than one answer and is not re-judged here "
            "(re-run its test with `conformance run -k NAME`); only the baseline was judged",
            file=sys.stderr,
        )
    if found and pair:
        from conformance.report.html import failing_side

        for f in found:
            side = failing_side({"message": f.message, "exchange": {"logical": {"params": list(req.params)}}})
            if side:
                print(f"failing side: {side[0]} ({side[1]})", file=sys.stderr)
                break
    if found:
        for f in found:
            print(f"FAIL [{f.requirement}] {f.message}", file=sys.stderr)
            if f.expected or f.observed:
                print(f"  expected: {f.expected}\n  observed: {f.observed}", file=sys.stderr)
        return EXIT_FINDING
    what = f"{requirement} ({check})" if requirement and check in REJUDGED else "the baseline checks"
    print(f"PASS {what}: the answer meets it", file=sys.stderr)
    return EXIT_OK


def params_from_json(text: str) -> tuple[tuple[str, str], ...]:
    """``--params-json '[["k","v"],...]'``: parameters with control characters, POSIX-sh safe."""
    data: Any = json.loads(text)
    if not isinstance(data, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in data
    ):
        raise ValueError("--params-json must be a JSON list of [key, value] string pairs")
    return tuple((k, v) for k, v in data)
