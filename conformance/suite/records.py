"""One test's record for results.json: its verdict, message, findings and Hypothesis notes.

Built from pytest's report of the test and the ``api`` handle it used; the records are plain dicts
so they survive pytest-xdist and are all the results layer ever sees of a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.catalog import load_catalog
from conformance.checks.registry import TRANSPORT, pseudo_finding
from conformance.model.finding import Finding
from conformance.report.rendering import without_addresses
from conformance.results.samples import record_samples
from conformance.suite.api import Api, ConformanceFailure
from conformance.suite.state import RunState
from conformance.transport.errors import BudgetExhausted, TransportError

# Transport refusals that end a test because the run's own limits ran out: the test is unverified.
CUT_SHORT_KINDS = ("budget", "deadline", "throttled")
_SERVER_ERROR_NOTE = (
    "The target answered with a server error (HTTP 5xx); the test stopped sending there, so no shrunk "
    "example is shown: the exchange in the evidence is the request that got the 5xx."
)
_INTERMITTENT_NOTE = (
    "Intermittent: the failure did not recur when Hypothesis replayed the example; the findings are "
    "from the answer that broke the requirement."
)


def item_requirement_ids(item: pytest.Item) -> list[str]:
    """The IDs of every ``@requirement`` marker of a collected test, in order, each once."""
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(i for i in mark.args if i not in ids)
    return ids


def bind_to_item(handle: Api, item: pytest.Item) -> Api:
    """The handle with the test's marker IDs: all it declares, and those of the run's profile."""
    catalog = load_catalog()
    handle.declared = item_requirement_ids(item)
    handle.requirements = [
        rid for rid in handle.declared if rid in catalog and catalog[rid].in_profile(handle.state.profile)
    ]
    return handle


def changes_the_target(item: pytest.Item) -> bool:
    """Whether every requirement of the test is of the full profile (redeem, clock moves): such
    tests run after every read-only one, and nothing of theirs is sent ahead."""
    catalog = load_catalog()
    return all(catalog[i].profile == "full" for i in item_requirement_ids(item) if i in catalog)


def cut_short_reason(exc: TransportError, state: RunState | None) -> str:
    """Which of the run's own limits stopped a test, named with the option that raises it."""
    limits = state.config.limits if state is not None else None
    throttled = state.client.stats.throttle_summary() if state is not None and state.client else ""
    why = f" while the target's front throttled the run ({throttled})" if throttled else ""
    if exc.kind == "throttled":
        return f"{exc} ({throttled})" if throttled else str(exc)
    if exc.kind == "budget" or isinstance(exc, BudgetExhausted):
        size = f" of {limits.request_budget} requests" if limits else ""
        return f"request budget{size} exhausted{why} (--request-budget / [limits] request_budget)"
    size = f" of {limits.run_deadline_seconds:g}s" if limits else ""
    return f"run deadline{size} passed{why} (--deadline / [limits] run_deadline_seconds)"


@dataclass
class _Judged:
    """What a test's outcome says: its verdict, the message and the findings and notes behind it."""

    kind: str = "pass"
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _judge(
    report: pytest.TestReport, exc: BaseException | None, ids: list[str], state: RunState
) -> tuple[_Judged, TransportError | None]:
    leaves = _leaves(exc)
    failures = [e for e in leaves if isinstance(e, ConformanceFailure)]
    transport = next((e for e in leaves if isinstance(e, TransportError)), None)
    out = _Judged(notes=_hypothesis_notes(exc))
    if report.skipped:
        out.kind, out.message = "skip", _skip_reason(report)
        return out, transport
    if not report.failed:
        return out, transport
    if transport is not None and transport.kind in CUT_SHORT_KINDS and not failures:
        out.kind, out.message = "not-run", f"not verified: {cut_short_reason(transport, state)}"
    elif failures:
        out.kind = "fail"
        seen: set[tuple[str, str, int | None]] = set()
        for f in (f for e in failures for f in e.findings):  # a group may repeat one finding
            key = f.key
            if key not in seen:
                seen.add(key)
                out.findings.append(f)
        if any(e.server_error for e in failures):
            out.notes = [_SERVER_ERROR_NOTE]
        elif exc is not None and exc not in failures:  # e.g. Hypothesis' FlakyFailure
            out.notes.insert(0, _INTERMITTENT_NOTE)
        out.message = "\n".join(dict.fromkeys(str(e) for e in failures))
    elif transport is not None:
        out.kind, out.message = "error", f"transport: {transport}"
        if transport.exchange is not None:
            rid = ids[0] if ids else ""
            out.findings = [
                pseudo_finding(
                    TRANSPORT, rid, str(transport), "an HTTP response", transport.kind, transport.exchange
                )
            ]
    else:
        out.kind = "fail" if any(isinstance(e, AssertionError) for e in leaves) else "error"
    if not out.message:
        out.message = _failure_text(report, exc)
    return out, transport


def build_record(
    item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None], state: RunState
) -> dict[str, Any]:
    """The results.json record of one test phase that did not simply pass (or of its call)."""
    ids = item_requirement_ids(item)
    api: Api | None = getattr(item, "conformance_api", None)
    exc = call.excinfo.value if call.excinfo is not None else None
    judged, transport = _judge(report, exc, ids, state)
    scrub = state.client.redactor.scrub if state.client is not None else str
    record: dict[str, Any] = {
        "nodeid": item.nodeid,
        "name": item.name,
        "when": report.when,
        "requirements": ids,
        "doc": (getattr(getattr(item, "function", None), "__doc__", None) or "").strip(),
        "outcome": report.outcome,
        "verdict": judged.kind,
        "message": scrub(judged.message),
        "duration": round(report.duration, 3),
        "requests": len(api.exchanges) if api else 0,
        "findings": [f.to_dict() for f in judged.findings],
        "warnings": [f.to_dict() for f in (api.warnings if api else [])][:20],
        "hypothesis": [scrub(n) for n in judged.notes][:10],
    }
    if judged.kind == "pass" and api is not None and api.not_judged():
        # passed, but some requirement's checks applied to none of its answers: not verified by it
        record["not_judged"] = {rid: scrub(why) for rid, why in api.not_judged().items()}
    if judged.kind == "not-run" and transport is not None:
        record["cause"] = transport.kind  # "budget", "deadline", "throttled": which limit left it unverified
    if judged.kind == "pass" and api is not None:  # replayable by `certificate verify --recheck`
        samples = record_samples(api.exchanges, api.config.photo_id, ids)
        if samples:
            record["samples"] = samples
    return record


def _leaves(exc: BaseException | None) -> list[BaseException]:
    """The exceptions inside an exception group (Hypothesis' FlakyFailure is one), or ``exc`` itself."""
    if exc is None:
        return []
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")


def _failure_text(report: pytest.TestReport, exc: BaseException | None) -> str:
    if exc is not None:
        text = f"{type(exc).__name__}: {exc}"
        notes = getattr(exc, "__notes__", None)
        if notes:
            text += "\n" + "\n".join(str(n) for n in notes)
        return without_addresses(text)[:4000]
    return without_addresses(str(report.longrepr))[:4000]


def _hypothesis_notes(exc: BaseException | None) -> list[str]:
    notes = getattr(exc, "__notes__", None) or []
    return [without_addresses(n) for n in notes if isinstance(n, str)][:10]
