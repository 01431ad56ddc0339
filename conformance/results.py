"""Test records -> requirement verdicts -> ``results.json`` (the source every report is rendered from)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance import __version__
from conformance.catalog import catalog_sha256, load_catalog

if TYPE_CHECKING:
    from conformance.plugin import RunState

RESULTS_FORMAT = 1
# How each verdict is shown, in the console and in the report.
VERDICT_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "blocked": "BLOCKED",
    "skip": "SKIP",
    "untested": "UNTESTED",
    "not-run": "NOT RUN",
    "not-in-profile": "NOT IN PROFILE",
}
# Worst first: the verdict of a requirement is the worst any of its tests gave it.
VERDICT_ORDER = ("fail", "error", "blocked", "untested", "pass", "skip", "not-run", "not-in-profile")


def requirement_verdicts(
    records: Iterable[dict[str, Any]], profile: str, partial: bool = False
) -> list[dict[str, Any]]:
    """Fold test records into one verdict per catalog requirement.

    A failing test fails the requirements its findings name (all it declares when the failure
    carries no findings); the others it declares were not verified by it ("blocked").
    """
    records = list(records)
    out = []
    for req in load_catalog().values():
        verdicts: list[str] = []
        tests: list[str] = []
        warnings: list[dict[str, Any]] = []
        for rec in records:
            named = {f["requirement"] for f in rec["findings"] if f.get("severity", "error") == "error"}
            declared = req.id in rec["requirements"]
            for w in rec.get("warnings", []):
                if w["requirement"] == req.id:
                    warnings.append(w)
            if not declared and req.id not in named:
                continue
            tests.append(rec["nodeid"])
            v = rec["verdict"]
            if v == "fail":
                verdicts.append("fail" if (req.id in named or not named) else "blocked")
            elif v == "error":
                verdicts.append("error" if declared else "fail")
            else:
                verdicts.append(v)
        if not req.in_profile(profile):
            verdict = "not-in-profile"
        elif not verdicts:
            verdict = "not-run" if partial else "untested"
        else:
            verdict = min(verdicts, key=VERDICT_ORDER.index)
            if verdict == "pass" and warnings and req.level == "SHOULD":
                verdict = "fail"
        out.append(
            {
                "id": req.id,
                "group": req.group,
                "level": req.level,
                "profile": req.profile,
                "spec": req.spec,
                "summary": req.summary,
                "position": req.position,
                "verdict": verdict,
                "tests": sorted(set(tests)),
                "warnings": warnings[:5],
            }
        )
    return out


def overall(requirements: list[dict[str, Any]], preflight_error: str | None) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {"MUST": {}, "SHOULD": {}}
    for r in requirements:
        bucket = counts[r["level"]]
        bucket[r["verdict"]] = bucket.get(r["verdict"], 0) + 1
    must_bad = [
        r["id"]
        for r in requirements
        if r["level"] == "MUST" and r["verdict"] in ("fail", "error", "blocked", "untested")
    ]
    if preflight_error:
        verdict, exit_code = "UNREACHABLE", 3
    elif must_bad:
        verdict, exit_code = "NOT CONFORMANT", 1
    else:
        verdict, exit_code = "CONFORMANT", 0
    return {
        "verdict": verdict,
        "exit_code": exit_code,
        "counts": counts,
        "must_not_passed": must_bad,
        "should_warnings": [
            r["id"] for r in requirements if r["level"] == "SHOULD" and r["verdict"] == "fail"
        ],
    }


def build_results(state: RunState) -> dict[str, Any]:
    from conformance.schemas import schema_sha256

    client = state.client
    stats = client.stats if client else None
    requirements = requirement_verdicts(state.records, state.profile, state.partial)
    summary = overall(requirements, state.preflight_error)
    if state.partial:
        summary["partial"] = True
        summary["verdict"] += " (partial run)"
    if stats and stats.sent and stats.transport_errors >= stats.sent and not state.preflight_error:
        summary.update(verdict="UNREACHABLE", exit_code=3)
        state.preflight_error = "every request failed at the transport level"
    from hypothesis import settings

    current = settings()
    limits = state.config.limits
    skew = state.skew
    return {
        "format": RESULTS_FORMAT,
        "suite": {
            "name": "twentythree-replace-token-conformance",
            "version": __version__,
            "python": platform.python_version(),
        },
        "target": {
            "base_url": state.config.base_url,
            "config": state.config.source,
            "embedded": state.embedded,
            "bounds_policy": state.config.bounds_policy,
            "destructive": state.config.destructive,
            "credential_levels": sorted(state.config.credentials),
            # names only: reproduction commands tell the reader which variables to export
            "secret_env": sorted(
                {
                    src[4:]
                    for c in state.config.credentials.values()
                    for src in c.secret_sources.values()
                    if src.startswith("env:")
                }
            ),
        },
        "run": {
            "profile": state.profile,
            "seed": state.seed,
            "partial": state.partial,
            "settings_profile": state.settings_profile,
            "hypothesis": {"max_examples": current.max_examples, "deadline": None, "database": None},
            "include_slow": state.include_slow,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.started)),
            "duration_seconds": round(time.time() - state.started, 2),
            "request_budget": limits.request_budget,
            "max_rps": limits.requests_per_second,
            "timeout_seconds": limits.timeout_seconds,
            "max_body_bytes": limits.max_body_bytes,
            "run_deadline_seconds": limits.run_deadline_seconds,
            "requests_sent": stats.sent if stats else 0,
            "retries": stats.retries if stats else 0,
            "transport_errors": stats.transport_errors if stats else 0,
            "timeouts": stats.timeouts if stats else 0,
            "oversize_responses": stats.oversize if stats else 0,
            # robustness: requests refused before sending, why, and which requests failed in transit
            "not_sent": stats.not_sent if stats else 0,
            "budget_exhausted": stats.budget_exhausted if stats else False,
            "deadline_exceeded": stats.deadline_exceeded if stats else False,
            "circuit_opened": stats.circuit_opened if stats else False,
            "transport_errors_by_kind": dict(stats.by_kind) if stats else {},
            "transport_failures": list(stats.failures) if stats else [],
            "clock_skew_seconds": round(skew, 2) if state.skew_samples else None,
            "preflight_error": state.preflight_error,
        },
        "integrity": {"catalog_sha256": catalog_sha256(), "schemas_sha256": schema_sha256()},
        "summary": summary,
        "requirements": requirements,
        "tests": sorted(state.records, key=lambda r: r["nodeid"]),
    }


def write_outputs(results: dict[str, Any], state: RunState) -> list[Path]:
    """Write results.json and report.html into the report directory, secrets scrubbed."""
    out = state.report_dir
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if state.client is not None:
        text = state.client.redactor.scrub(text)
    path = out / "results.json"
    path.write_text(text, encoding="utf-8")
    written = [path]
    try:
        from conformance.report.html import render_html
    except ImportError:
        return written
    html_path = out / "report.html"
    html = render_html(json.loads(text))
    if state.client is not None:
        html = state.client.redactor.scrub(html)
    html_path.write_text(html, encoding="utf-8")
    written.append(html_path)
    return written


def load_results(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
