"""The run's facts as the report lists them: target, suite, profile, seed, requests, limits, times.

One row each, as (label, text); values a target or a config supplied are shown as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.report.rendering import shown
from conformance.transport.backpressure import throttle_phrase


def run_facts(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the report's "Run" table."""
    suite = results.get("suite") or {}
    target = results.get("target") or {}
    run = results.get("run") or {}
    hyp = run.get("hypothesis") or {}
    skew = run.get("clock_skew_seconds")
    facts = [
        ("Target", target.get("base_url", "")),
        (
            "Config",
            f"{target.get('config', '')}"
            + (" (embedded reference server)" if target.get("embedded") else ""),
        ),
        ("Declared bounds policy", target.get("bounds_policy", "")),
        ("Suite", f"{suite.get('name', '')} {suite.get('version', '')} (Python {suite.get('python', '?')})"),
        (
            "Profile",
            str(run.get("profile", ""))
            + (f" (partial run: {run['selection']})" if run.get("selection") else "")
            + (" (partial run)" if run.get("partial") and not run.get("selection") else ""),
        ),
        ("Seed", f"{run.get('seed', '')} (reproduce every draw with --seed {run.get('seed', '')})"),
        (
            "Hypothesis",
            f"settings '{run.get('settings_profile', '')}', max_examples {hyp.get('max_examples')}, "
            f"deadline {hyp.get('deadline') or 'none'}, database {hyp.get('database') or 'none'}",
        ),
        (
            "Requests",
            f"{run.get('requests_sent', 0)} sent of a budget of {run.get('request_budget', '?')} "
            f"(retries {run.get('retries', 0)}, timeouts {run.get('timeouts', 0)}, "
            f"transport errors {run.get('transport_errors', 0)}, "
            f"oversize responses {run.get('oversize_responses', 0)})" + _throttling(run) + _sent_ahead(run),
        ),
        (
            "Limits",
            f"max {run.get('max_rps') or 'uncapped'} requests/s"
            + (f", {run['concurrency']} in flight at most" if run.get("concurrency") else "")
            + f", timeout {run.get('timeout_seconds')} s, body cap {run.get('max_body_bytes')} bytes, "
            f"run deadline {run.get('run_deadline_seconds')} s",
        ),
        ("Started", f"{run.get('started_at', '')}"),
        ("Duration", f"{run.get('duration_seconds', 0)} s"),
        (
            "Clock skew",
            "not measured" if skew is None else f"{skew:+.2f} s (target Date header minus local clock)",
        ),
    ]
    if run.get("preflight_error"):
        facts.append(("Unreachable", str(run["preflight_error"])))
    return [(label, shown(value)) for label, value in facts]


def _sent_ahead(run: Mapping[str, Any]) -> str:
    """How many requests left ahead of the tests that judged them, for the Requests fact."""
    ahead = run.get("sent_ahead")
    if not isinstance(ahead, Mapping) or not ahead.get("sent"):
        return ""
    text = f"; {ahead['sent']} sent ahead of their tests ({ahead.get('unused', 0)} of them unused)"
    if ahead.get("reused"):
        text += (
            f"; {ahead['reused']} more that another test planned too were not sent again: "
            "both judged one answer"
        )
    return text + (f", then no more: {ahead['stopped']}" if ahead.get("stopped") else "")


def _throttling(run: Mapping[str, Any]) -> str:
    """The front's back-pressure, for the Requests fact; "" when the target never throttled the run."""
    if not run.get("throttled"):
        return ""
    text = "; the target's front " + throttle_phrase(run["throttled"], run.get("throttle_wait_seconds") or 0)
    rate = run.get("throttle_rate")
    return text + (f", the run slowed to {rate:g} requests/s" if rate else "")
