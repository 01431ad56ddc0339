"""``results.json``: the run's facts, its test records and their verdicts, in one document.

Every report is rendered from this document. The suite hands over plain facts (:class:`RunFacts`);
nothing here knows pytest, Hypothesis or how a report looks.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from typing import Any

from conformance import __version__
from conformance.catalog import catalog_sha256
from conformance.config import TargetConfig
from conformance.parse.schemas import schema_sha256
from conformance.results.verdicts import overall, requirement_verdicts, unrun_records
from conformance.transport.pacing import ClientStats
from conformance.transport.redaction import REDACTED, Redactor

RESULTS_FORMAT = 1


@dataclass
class RunFacts:
    """What a finished run knows, as plain data: the results document is folded from it."""

    config: TargetConfig
    profile: str
    seed: int
    settings_profile: str
    max_examples: int  # the Hypothesis examples per property test the run used
    include_slow: bool
    embedded: bool
    started: float  # time.time() at the start
    records: list[dict[str, Any]]  # one per test that ran (the suite's test records)
    collected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> IDs, meant to run
    deselected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> IDs, left out by -k/-m
    stats: ClientStats | None = None
    skew: float | None = None  # measured clock skew in seconds, None when nothing was measured
    preflight_error: str | None = None
    partial: bool = False
    selection: str = ""
    accept_unverified: tuple[str, ...] = ()
    interrupted: str | None = None
    receiver: dict[str, Any] | None = None
    sent_ahead: dict[str, Any] | None = None  # requests sent ahead of their tests (suite.prefetch)


def build_results(run: RunFacts) -> dict[str, Any]:
    """The results document; a run whose every request failed in transit becomes UNREACHABLE."""
    stats = run.stats
    cut = next((r["message"] for r in run.records if r["verdict"] == "not-run"), None)
    if cut is not None:
        cut = cut.removeprefix("not verified: ")
    unrun = unrun_records(
        run.records, run.collected, run.deselected, selection=run.selection, interrupted=run.interrupted
    )
    requirements = requirement_verdicts([*run.records, *unrun], run.profile)
    if stats and stats.sent and stats.transport_errors >= stats.sent and not run.preflight_error:
        run.preflight_error = "every request failed at the transport level"
    summary = overall(
        requirements,
        run.preflight_error,
        accepted=run.accept_unverified,
        interrupted=run.interrupted,
        cut_short=cut,
    )
    summary["partial"] = summary["partial"] or run.partial
    return {
        "format": RESULTS_FORMAT,
        "suite": {
            "name": "twentythree-replace-token-conformance",
            "version": __version__,
            "python": platform.python_version(),
        },
        "target": _target(run),
        "run": _run(run, summary["partial"]),
        "integrity": {"catalog_sha256": catalog_sha256(), "schemas_sha256": schema_sha256()},
        "summary": summary,
        "requirements": requirements,
        "tests": sorted(run.records, key=lambda r: r["nodeid"]),
    }


def _target(run: RunFacts) -> dict[str, Any]:
    config = run.config
    return {
        "base_url": config.base_url,
        "config": config.source,
        "embedded": run.embedded,
        "bounds_policy": config.bounds_policy,
        "destructive": config.destructive,
        "credential_levels": sorted(config.credentials),
        # names only: reproduction commands tell the reader which variables to export
        "secret_env": sorted(
            {
                src[4:]
                for c in config.credentials.values()
                for src in c.secret_sources.values()
                if src.startswith("env:")
            }
        ),
    }


def _run(run: RunFacts, partial: bool) -> dict[str, Any]:
    limits = run.config.limits
    stats = run.stats
    return {
        "profile": run.profile,
        "seed": run.seed,
        "partial": partial,
        "selection": run.selection or None,
        "interrupted": run.interrupted,
        "accept_unverified": list(run.accept_unverified),
        "settings_profile": run.settings_profile,
        "hypothesis": {"max_examples": run.max_examples, "deadline": None, "database": None},
        "include_slow": run.include_slow,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
        "duration_seconds": round(time.time() - run.started, 2),
        "request_budget": limits.request_budget,
        "max_rps": limits.requests_per_second,
        "timeout_seconds": limits.timeout_seconds,
        "max_body_bytes": limits.max_body_bytes,
        "run_deadline_seconds": limits.run_deadline_seconds,
        "concurrency": limits.concurrency,
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
        # a front's back-pressure (429, 503 + Retry-After): waited out and re-sent, never a finding
        "throttled": stats.throttled if stats else 0,
        "throttle_wait_seconds": round(stats.throttle_wait_seconds, 1) if stats else 0.0,
        "throttle_gave_up": stats.throttle_gave_up if stats else 0,
        "throttle_rate": stats.throttle_rate if stats else None,
        "transport_errors_by_kind": dict(stats.by_kind) if stats else {},
        "transport_failures": list(stats.failures) if stats else [],
        "clock_skew_seconds": round(run.skew, 2) if run.skew is not None else None,
        "preflight_error": run.preflight_error,
        "callback_receiver": run.receiver,
        "sent_ahead": run.sent_ahead,
    }


def results_text(results: dict[str, Any], redactor: Redactor | None) -> str:
    """The text of ``results.json``, secrets scrubbed.

    ``results`` is redacted value by value *in place* before anything is serialised (so the
    console summary printed from it is clean too, and no secret can break the JSON structure);
    the serialised text then gets a last pass for distinctive needles only.
    """
    if redactor is not None:
        clean = redactor.scrub_value(results)
        results.clear()
        results.update(clean)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if redactor is not None:
        last = redactor.scrub_document(text, REDACTED)
        if last != text and _is_json(last):
            text = last
    return text


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
