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
from conformance.transport.redaction import REDACTED

if TYPE_CHECKING:
    from conformance.suite.plugin import RunState

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
# Worst first: the verdict of a requirement is the worst any of its tests gave it. A requirement
# one of whose tests was skipped or not run is not verified, even when another of its tests passed.
VERDICT_ORDER = ("fail", "error", "blocked", "not-run", "skip", "untested", "pass", "not-in-profile")
# Requirement verdicts that mean "not verified by this run" (for a MUST: the run is INCOMPLETE).
UNVERIFIED = ("blocked", "not-run", "skip", "untested")
FAILED = ("fail", "error")
# Overall verdicts and their exit codes (README, "Verdicts and exit codes").
EXIT_CODES = {
    "CONFORMANT": 0,
    "NOT CONFORMANT": 1,
    "UNREACHABLE": 3,
    "INCOMPLETE": 4,
    "INTERRUPTED": 130,
}


def requirement_verdicts(
    records: Iterable[dict[str, Any]], profile: str, partial: bool = False
) -> list[dict[str, Any]]:
    """Fold test records into one verdict per catalog requirement.

    A failing test fails the requirements its findings name (all it declares when the failure
    carries no findings); the others it declares were not verified by it ("blocked"). Records of
    tests that did not run (verdict "not-run": deselected, cut off by a signal, the request budget
    or the run deadline) and skipped tests leave their requirements unverified; every unverified
    requirement carries ``unverified_reason`` (why, in words) and ``unverified_cause``.
    """
    records = list(records)
    out = []
    for req in load_catalog().values():
        verdicts: list[str] = []
        tests: list[str] = []
        warnings: list[dict[str, Any]] = []
        reasons: dict[str, str] = {}  # reason -> cause, in order of appearance
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
                verdict = "fail" if (req.id in named or not named) else "blocked"
                if verdict == "blocked":
                    reasons.setdefault(
                        f"its test {rec['nodeid']} stopped at a failure of {', '.join(sorted(named))}",
                        "blocked",
                    )
                verdicts.append(verdict)
            elif v == "error":
                verdicts.append("error" if declared else "fail")
            else:
                if v in ("skip", "not-run"):
                    message = (rec.get("message") or "").strip().splitlines()
                    reason = message[0] if message else "not run"
                    reasons.setdefault(reason, rec.get("cause") or ("skipped" if v == "skip" else "not-run"))
                verdicts.append(v)
        if not req.in_profile(profile):
            verdict = "not-in-profile"
        elif not verdicts:
            verdict = "not-run" if partial else "untested"
        else:
            verdict = min(verdicts, key=VERDICT_ORDER.index)
            if verdict == "pass" and warnings and req.level == "SHOULD":
                verdict = "fail"
        entry: dict[str, Any] = {
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
        if verdict in UNVERIFIED:
            if verdict == "untested":
                reasons = {"no suite test verifies it in this run": "untested"}
            elif verdict == "not-run" and not reasons:
                reasons = {"not run by this partial run": "not-run"}
            wanted = {"blocked": ("blocked",), "skip": ("skipped",)}.get(verdict)
            kept = {r: c for r, c in reasons.items() if wanted is None or c in wanted} or reasons
            entry["unverified_reason"] = "; ".join(kept)
            entry["unverified_cause"] = next(iter(kept.values()))
        out.append(entry)
    return out


def overall(
    requirements: list[dict[str, Any]],
    preflight_error: str | None,
    *,
    accepted: Iterable[str] = (),
    interrupted: str | None = None,
    cut_short: str | None = None,
) -> dict[str, Any]:
    """The run's verdict from its requirement verdicts.

    CONFORMANT only when every MUST of the profile ran and passed (or its gap is accepted by
    the user); a failed MUST is NOT CONFORMANT; a MUST not verified (and none failed) is
    INCOMPLETE; a signal makes the run INTERRUPTED whatever it saw so far.
    """
    accepted = set(accepted)
    counts: dict[str, dict[str, int]] = {"MUST": {}, "SHOULD": {}}
    for r in requirements:
        bucket = counts[r["level"]]
        bucket[r["verdict"]] = bucket.get(r["verdict"], 0) + 1
    must = [r for r in requirements if r["level"] == "MUST"]
    failed = [r["id"] for r in must if r["verdict"] in FAILED]
    gaps = [
        {
            "id": r["id"],
            "reason": r.get("unverified_reason") or VERDICT_LABELS[r["verdict"]].lower(),
            "cause": r.get("unverified_cause") or {"skip": "skipped"}.get(r["verdict"], r["verdict"]),
        }
        for r in must
        if r["verdict"] in UNVERIFIED
    ]
    unverified = [g for g in gaps if g["id"] not in accepted]
    accepted_gaps = [g for g in gaps if g["id"] in accepted]
    if interrupted:
        verdict = "INTERRUPTED"
    elif preflight_error:
        verdict = "UNREACHABLE"
    elif failed:
        verdict = "NOT CONFORMANT"
    elif unverified:
        verdict = "INCOMPLETE"
    else:
        verdict = "CONFORMANT"
    return {
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
        "counts": counts,
        "must_not_passed": failed + [g["id"] for g in unverified],
        "must_failed": failed,
        "unverified": unverified,
        "accepted_unverified": accepted_gaps,
        "interrupted": interrupted,
        "cut_short": cut_short,
        "partial": bool(interrupted or cut_short or any(g["cause"] == "deselected" for g in gaps)),
        "should_warnings": [
            r["id"] for r in requirements if r["level"] == "SHOULD" and r["verdict"] == "fail"
        ],
    }


def unrun_records(state: RunState) -> list[dict[str, Any]]:
    """Pseudo records for tests that never ran: deselected by -k/-m, or cut off by a signal.

    They count for the requirement verdicts (the requirement is not verified) but are not test
    records of results.json.
    """
    recorded = {r["nodeid"] for r in state.records}
    out = []
    for nodeid, ids in state.deselected.items():
        out.append(_unrun(nodeid, ids, f"deselected by {state.selection or 'the selection'}", "deselected"))
    for nodeid, ids in state.collected.items():
        if nodeid in recorded:
            continue
        if state.interrupted:
            reason, cause = (
                f"the run was interrupted by {state.interrupted} before this test finished",
                "interrupted",
            )
        else:
            reason, cause = "the run stopped before this test ran", "not-run"
        out.append(_unrun(nodeid, ids, reason, cause))
    return out


def _unrun(nodeid: str, ids: list[str], reason: str, cause: str) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "requirements": ids,
        "verdict": "not-run",
        "message": reason,
        "cause": cause,
        "findings": [],
        "warnings": [],
    }


def junit_properties(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The verdict and every unverified or accepted-unverified MUST, as JUnit testsuite properties."""
    summary = results["summary"]
    props = [
        ("conformance.verdict", str(summary["verdict"])),
        ("conformance.exit_code", str(summary["exit_code"])),
        ("conformance.partial", "true" if summary.get("partial") else "false"),
    ]
    if summary.get("interrupted"):
        props.append(("conformance.interrupted", str(summary["interrupted"])))
    if summary.get("cut_short"):
        props.append(("conformance.cut_short", str(summary["cut_short"])))
    props += [(f"conformance.unverified.{g['id']}", g["reason"]) for g in summary.get("unverified", ())]
    props += [
        (f"conformance.accepted_unverified.{g['id']}", g["reason"])
        for g in summary.get("accepted_unverified", ())
    ]
    return props


def build_results(state: RunState) -> dict[str, Any]:
    from conformance.parse.schemas import schema_sha256

    client = state.client
    stats = client.stats if client else None
    cut = next((r["message"] for r in state.records if r["verdict"] == "not-run"), None)
    if cut is not None:
        cut = cut.removeprefix("not verified: ")
    requirements = requirement_verdicts([*state.records, *unrun_records(state)], state.profile)
    if stats and stats.sent and stats.transport_errors >= stats.sent and not state.preflight_error:
        state.preflight_error = "every request failed at the transport level"
    summary = overall(
        requirements,
        state.preflight_error,
        accepted=state.accept_unverified,
        interrupted=state.interrupted,
        cut_short=cut,
    )
    summary["partial"] = summary["partial"] or state.partial
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
            "partial": summary["partial"],
            "selection": state.selection or None,
            "interrupted": state.interrupted,
            "accept_unverified": list(state.accept_unverified),
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
            "callback_receiver": state.receiver,
        },
        "integrity": {"catalog_sha256": catalog_sha256(), "schemas_sha256": schema_sha256()},
        "summary": summary,
        "requirements": requirements,
        "tests": sorted(state.records, key=lambda r: r["nodeid"]),
    }


def write_outputs(results: dict[str, Any], state: RunState) -> list[Path]:
    """Write results.json and report.html into the report directory, secrets scrubbed.

    ``results`` is redacted value by value *in place* before anything is serialised (so the
    console summary printed from it is clean too, and no secret can break the JSON or HTML
    structure); the rendered documents then get a last pass for distinctive needles only.
    """
    out = state.report_dir
    out.mkdir(parents=True, exist_ok=True)
    redactor = state.client.redactor if state.client is not None else None
    if redactor is not None:
        clean = redactor.scrub_value(results)
        results.clear()
        results.update(clean)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if redactor is not None:
        last = redactor.scrub_document(text, REDACTED)
        if last != text and _is_json(last):
            text = last
    path = out / "results.json"
    path.write_text(text, encoding="utf-8")
    written = [path]
    try:
        from conformance.report.html import render_html
    except ImportError:
        return written
    html_path = out / "report.html"
    html = render_html(json.loads(text))
    if redactor is not None:
        html = redactor.scrub_document(html)  # "[redacted]": no markup characters
    html_path.write_text(html, encoding="utf-8")
    written.append(html_path)
    return written


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def load_results(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
