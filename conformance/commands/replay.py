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

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from conformance import checks
from conformance.checks import Finding, Observation
from conformance.commands.common import add_list_option, err
from conformance.config import ConfigError, TargetConfig, did_you_mean, load_config
from conformance.model.exchange import ApiRequest
from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from conformance.report.html import failing_side
from conformance.spec import BOUNDED_PARAMS, DEFAULT_VARNAME, GET_REPLACE_TOKEN
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError

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


def _params(obs: Observation, req: ApiRequest, config: TargetConfig) -> list[Finding]:
    """valid_minutes / max_uploads: the default, the value sent, or the declared bounds policy."""
    outcomes: list[checks.Outcome] = []
    for name, (lo, hi, default) in BOUNDED_PARAMS.items():
        sent = req.param(name)
        if not sent:
            outcomes.append(checks.check_numeric_field(obs, name, default))
        elif sent.lstrip("-").isdigit():
            value = int(sent)
            if lo <= value <= hi:
                outcomes.append(checks.check_numeric_field(obs, name, value))
            else:
                outcomes.append(checks.check_bounds_policy(obs, name, value, config.bounds_policy))
    return checks.findings_of(*outcomes)


def _names(obs: Observation, req: ApiRequest) -> list[Finding]:
    return checks.findings_of(
        *(
            checks.check_name_not_reflected(obs, req.param(key) or "")
            for key in ("callback", "varname")
            if req.param(key) and not checks.is_js_name(req.param(key) or "")
        )
    )


def _wrapper(obs: Observation, req: ApiRequest, config: TargetConfig) -> checks.Outcome:
    """format=json: wrapped as asked (callback, then raw, then varname, else ``var visual``).

    A name that is not a JavaScript identifier may be refused or ignored (both safe): not judged here.
    """
    given = dict(req.params)
    names = [given[k] for k in ("callback", "varname") if k in given]
    if req.param("format") != "json" or any(not checks.is_js_name(n) for n in names):
        return []
    if "callback" in given:
        return checks.check_json_wrapper(obs, "callback", given["callback"])
    if "raw" in given:
        return checks.check_json_wrapper(obs, "raw", None)
    return checks.check_json_wrapper(obs, "var", given.get("varname", DEFAULT_VARNAME))


Judge = Callable[[Observation, ApiRequest, TargetConfig], checks.Outcome]
JUDGES: dict[str, Judge] = {
    "check_json_wrapper": _wrapper,
    "check_numeric_field": _params,
    "check_bounds_policy": _params,
    "check_within_bounds": lambda obs, req, cfg: checks.check_within_bounds(obs),
    "check_echo": lambda obs, req, cfg: checks.check_echo_or_refused(obs, req),
    "check_cached_zero": lambda obs, req, cfg: checks.check_cached_zero(obs),
    "check_token_fields": lambda obs, req, cfg: checks.check_token_fields(obs, req),
    "check_json_envelope": lambda obs, req, cfg: checks.check_json_envelope(obs),
    "check_status_ok": lambda obs, req, cfg: checks.check_status_ok(obs),
    "check_name_not_reflected": lambda obs, req, cfg: _names(obs, req),
}
PAIR_CHECKS = frozenset({"check_formats_agree"})  # judged on the XML and the JSON answer together
REJUDGED = BASELINE_CHECKS | JUDGES.keys() | PAIR_CHECKS


def rejudge(
    observations: list[Observation], req: ApiRequest, config: TargetConfig, requirement: str, check: str
) -> list[Finding]:
    """The baseline of every answer, then the named check; errors only, bound to ``requirement``."""
    outcomes: list[checks.Outcome] = []
    for obs in observations:
        req_sent = obs.exchange.request or req
        outcomes.append(checks.check_api_response(obs, _fmt(req_sent)))  # type: ignore[arg-type]
    if check in PAIR_CHECKS and len(observations) == 2:
        outcomes.append(checks.check_formats_agree(observations[0], observations[1]))
    elif check in JUDGES:
        outcomes.append(JUDGES[check](observations[-1], req, config))
    found = checks.bound(checks.findings_of(*outcomes), requirement)
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
    pair = check in PAIR_CHECKS
    reqs = [req.with_params(format=None), req.with_params(format="json")] if pair else [req]
    client = TargetClient(config)
    try:
        exchanges = client.send_many(reqs) if pair else [client.send(req)]
    except TransportError as exc:
        err(str(exc))
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
        return EXIT_FAILED
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


# ------------------------------------------------------------------ command line
class ReplayUsageError(ValueError):
    """A ``conformance replay`` command line that describes no request (exit 2, one line)."""


def add_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("--config", required=True)
    rp.add_argument("--method", choices=("GET", "POST"), default="GET")
    rp.add_argument("--auth", default="write", help="credential level, or 'none' for unsigned")
    rp.add_argument("--placement", choices=("header", "query", "body"), default="header")
    rp.add_argument("--path", default=GET_REPLACE_TOKEN)
    rp.add_argument("--tamper", action="store_true", help="sign with a wrong secret")
    add_list_option(rp, "--post-query", "KEY=VALUE", "query parameter added to a POST URL")
    rp.add_argument(
        "--params-json",
        default=None,
        metavar="JSON",
        help='parameters as [["key", "value"], ...] (printed for values with control characters)',
    )
    rp.add_argument("--requirement", default=None, metavar="ID", help="the requirement to re-judge")
    rp.add_argument(
        "--check", default=None, metavar="NAME", help="the check to re-judge (exit 1 on a finding)"
    )
    rp.add_argument("params", nargs="*", metavar="KEY=VALUE")


def _pairs(items: list[str], what: str = "parameter") -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ReplayUsageError(f"{what} {item!r} is not KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def replay_request(args: argparse.Namespace) -> ApiRequest:
    """The logical request a ``conformance replay`` command line describes (ReplayUsageError if none)."""
    if not args.path.startswith("/"):
        raise ReplayUsageError(f"--path {args.path!r} must start with '/' (it is appended to base_url)")
    params = _pairs(args.params)
    if args.params_json:
        try:
            params += params_from_json(args.params_json)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise ReplayUsageError(str(exc)) from exc
    return ApiRequest(
        params=params,
        http_method=args.method,
        auth=None if args.auth == "none" else args.auth,
        placement=args.placement,
        path=args.path,
        query_on_post=_pairs(args.post_query, "--post-query"),
        tamper=args.tamper,
    )


def main(args: argparse.Namespace) -> int:
    try:
        req = replay_request(args)
        config = load_config(args.config)
    except ReplayUsageError as exc:
        err(str(exc), "conformance replay")
        return EXIT_USAGE
    except ConfigError as exc:
        err(f"config error: {exc}")
        return EXIT_USAGE
    if req.auth is not None and req.auth not in config.credentials:
        levels = ", ".join(sorted(config.credentials))
        err(
            f"--auth {req.auth}: no [credentials.{req.auth}] in {config.source} "
            f"(configured: {levels}, or 'none' for unsigned){did_you_mean(req.auth, config.credentials)}",
            "conformance replay",
        )
        return EXIT_USAGE
    return run_replay(req, config, args.requirement, args.check)
