"""The console of ``conformance run``: a progress line per requirement group and a compact final block.

Rendering is pure (results dict -> lines) so it can be tested without a run; the pytest plugin that
draws the progress while a run goes is :class:`conformance.suite.progress.Progress`. The
pytest-style output stays available with ``-v`` / ``--pytest-output``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from conformance.model.verdict import RunVerdict
from conformance.transport.backpressure import throttle_phrase

COLOR_MODES = ("auto", "always", "never")
REPORT_FILES = ("report.html", "junit.xml", "results.json")
_SGR = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}
VERDICT_COLORS = {
    RunVerdict.CONFORMANT: "green",
    RunVerdict.NOT_CONFORMANT: "red",
    RunVerdict.UNREACHABLE: "red",
    RunVerdict.INCOMPLETE: "yellow",
    RunVerdict.INTERRUPTED: "yellow",
}
# The worst outcome of a test's phases decides how it counts in its group.
TEST_RANK = {"fail": 5, "error": 4, "not-run": 3, "not-judged": 2, "skip": 1, "pass": 0}


def record_verdict(record: Mapping[str, Any]) -> str:
    """How a test counts in its group: a pass whose checks judged none of its answers is not a pass."""
    verdict = str(record.get("verdict", "pass"))
    return "not-judged" if verdict == "pass" and record.get("not_judged") else verdict


def use_color(mode: str, stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """``--color``: always / never as said; auto = a terminal and no ``NO_COLOR`` (no-color.org)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if color else text


def _verdict_line(summary: Mapping[str, Any], run: Mapping[str, Any], color: bool) -> str:
    verdict = str(summary.get("verdict", "?"))
    shown = paint(verdict, VERDICT_COLORS.get(verdict, "bold"), color)
    text = f"verdict: {shown} (profile {run.get('profile')})"
    if verdict == RunVerdict.UNREACHABLE and run.get("preflight_error"):
        text += f": target unreachable: {run['preflight_error']}"
    elif summary.get("interrupted"):
        text += f": interrupted by {summary['interrupted']}, results are partial"
    elif summary.get("must_failed"):
        text += f": {len(summary['must_failed'])} MUST failed"
    elif summary.get("unverified"):
        text += f": {len(summary['unverified'])} MUST not verified"
    return text


def unverified_lines(gaps: Sequence[Mapping[str, Any]], limit: int = 30, per_line: int = 8) -> list[str]:
    """One line per reason, naming the requirements left unverified for it (a long list shortened)."""
    by_reason: dict[str, list[str]] = {}
    for gap in gaps:
        by_reason.setdefault(str(gap.get("reason") or "not verified"), []).append(str(gap["id"]))
    lines = [
        f"  {', '.join(ids[:per_line])}{f' and {len(ids) - per_line} more' if len(ids) > per_line else ''}: "
        f"{reason}"
        for reason, ids in by_reason.items()
    ]
    if len(lines) > limit:
        lines = [*lines[:limit], f"  ... and {len(lines) - limit} more reasons in report.html"]
    return lines


def summary_lines(
    results: Mapping[str, Any], *, color: bool = False, report_dir: Path | None = None, limit: int = 10
) -> list[str]:
    """The final block: failures with their first finding, gaps with reasons, warnings, run facts,
    report paths, and the verdict as the last line (for an unreachable target, with the reason)."""
    summary = results.get("summary") or {}
    run = results.get("run") or {}
    lines = [""]
    unreachable = summary.get("verdict") == RunVerdict.UNREACHABLE
    if not unreachable:
        failed = summary.get("must_failed", [])
        if failed:
            from conformance.report.evidence import must_failures

            lines.append(paint(f"MUST failed ({len(failed)}):", "red", color))
            evidence = must_failures(results)
            for ev in evidence[:limit]:
                lines.append(f"  {paint(ev.requirement, 'bold', color)}: {ev.message}")
                lines.append(f"    test: {ev.nodeid}")
                if ev.reproduction is not None:
                    lines += [f"    {line}" for line in ev.reproduction.text.splitlines()]
            if len(evidence) > limit:
                lines.append(f"  ... and {len(evidence) - limit} more in report.html")
        if summary.get("unverified"):
            lines.append(
                paint(f"MUST not verified ({len(summary['unverified'])}):", "yellow", color)
                + " accept a gap knowingly with --accept-unverified ID or [verdict] accept_unverified"
            )
            lines += unverified_lines(summary["unverified"])
        if summary.get("accepted_unverified"):
            lines.append(f"MUST accepted as unverified by the user ({len(summary['accepted_unverified'])}):")
            lines += unverified_lines(summary["accepted_unverified"])
        if summary.get("should_warnings"):
            lines.append(
                paint("warnings (SHOULD): ", "yellow", color) + ", ".join(summary["should_warnings"])
            )
        receiver = run.get("callback_receiver") or {}
        if receiver.get("dropped_requests"):
            lines.append(
                f"warning (run): the callback receiver on {receiver['listen']} dropped "
                f"{receiver['dropped_requests']} requests for no live test endpoint; the target is not blamed"
            )
        if summary.get("cut_short"):
            lines.append(f"run cut short: {summary['cut_short']}")
        if summary.get("interrupted"):
            lines.append(f"run interrupted by {summary['interrupted']}: the results are partial")
    skew = run.get("clock_skew_seconds")
    throttled = run.get("throttled")  # a front's back-pressure: waited out, never a finding
    lines.append(
        f"requests sent: {run.get('requests_sent', 0)} (budget {run.get('request_budget')}), "
        f"retries {run.get('retries', 0)}, timeouts {run.get('timeouts', 0)}, "
        f"clock skew {'n/a' if skew is None else f'{skew:+.1f}s'}, "
        f"duration {float(run.get('duration_seconds') or 0):.1f}s"
        + (f", {throttle_phrase(throttled, run.get('throttle_wait_seconds') or 0)}" if throttled else "")
    )
    lines.append(f"seed: {run.get('seed')} (reproduce with --seed {run.get('seed')})")
    if report_dir is not None:
        present = [report_dir / name for name in REPORT_FILES if (report_dir / name).is_file()]
        for i, path in enumerate(present):
            lines.append(f"{'reports:' if i == 0 else '        '} {path}")
    lines.append(_verdict_line(summary, run, color))
    return lines
