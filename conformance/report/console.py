"""The console of ``conformance run``: a progress line per requirement group and a compact final block.

Rendering is pure (results dict -> lines) so it can be tested without a run; :class:`Progress` is
a small pytest plugin that reads what the conformance plugin records and draws the progress. The
pytest-style output stays available with ``-v`` / ``--pytest-output``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from conformance.catalog import load_catalog
from conformance.transport.backpressure import throttle_phrase

COLOR_MODES = ("auto", "always", "never")
REPORT_FILES = ("report.html", "junit.xml", "results.json")
_SGR = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}
VERDICT_COLORS = {
    "CONFORMANT": "green",
    "NOT CONFORMANT": "red",
    "UNREACHABLE": "red",
    "INCOMPLETE": "yellow",
    "INTERRUPTED": "yellow",
}
# The worst outcome of a test's phases decides how it counts in its group.
_RANK = {"fail": 5, "error": 4, "not-run": 3, "not-judged": 2, "skip": 1, "pass": 0}


def _test_verdict(record: Mapping[str, Any]) -> str:
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
    if verdict == "UNREACHABLE" and run.get("preflight_error"):
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
    unreachable = summary.get("verdict") == "UNREACHABLE"
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


class Progress:
    """A pytest plugin drawing progress per requirement group.

    On a terminal: one bar line rewritten in place, plus a line per finished group. Elsewhere (CI
    logs): only the line per finished group. Nothing at all when the preflight found the target
    unreachable (every test errors at once; the final block says why).
    """

    def __init__(self, state: Any, stream: IO[str], *, tty: bool, color: bool) -> None:
        self.state = state
        self.stream = stream
        self.tty = tty
        self.color = color
        self.group_of: dict[str, str] = {}  # nodeid -> group
        self.totals: dict[str, int] = {}
        self.done: dict[str, list[str]] = {}  # group -> verdicts of its finished tests
        self.requests: dict[str, int] = {}
        self.finished = 0
        self._bar_shown = False

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        catalog = load_catalog()
        profile = self.state.profile
        for item in session.items:
            ids = [i for mark in item.iter_markers("requirement") for i in mark.args if i in catalog]
            ids = [i for i in ids if catalog[i].in_profile(profile)]
            if not ids:
                continue  # not in this profile: skipped, and not worth a progress count
            group = catalog[ids[0]].group
            self.group_of[item.nodeid] = group
            self.totals[group] = self.totals.get(group, 0) + 1

    def _silent(self) -> bool:
        return bool(self.state.preflight_error)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        group = self.group_of.get(nodeid)
        if group is None or self._silent():
            return
        records = [r for r in self.state.records if r.get("nodeid") == nodeid]
        verdict = max((_test_verdict(r) for r in records), key=lambda v: _RANK.get(v, 0), default="pass")
        self.done.setdefault(group, []).append(verdict)
        self.requests[group] = self.requests.get(group, 0) + sum(int(r.get("requests") or 0) for r in records)
        self.finished += 1
        if len(self.done[group]) == self.totals[group]:
            self._clear_bar()
            self._write(self.group_line(group) + "\n")
        if self.tty:
            self._draw_bar(group)

    def pytest_sessionfinish(self) -> None:
        self._clear_bar()

    def group_line(self, group: str) -> str:
        verdicts = self.done.get(group, [])
        counts = {v: verdicts.count(v) for v in _RANK if verdicts.count(v)}
        failed = counts.get("fail", 0) + counts.get("error", 0)
        parts = []
        if failed:
            parts.append(paint(f"{failed} failed", "red", self.color))
        if counts.get("not-run"):
            parts.append(paint(f"{counts['not-run']} not run", "yellow", self.color))
        if counts.get("not-judged"):  # passed, but its checks applied to none of its answers
            parts.append(paint(f"{counts['not-judged']} not judged", "yellow", self.color))
        if counts.get("skip"):
            parts.append(f"{counts['skip']} skipped")
        state = ", ".join(parts) if parts else paint("ok", "green", self.color)
        width = max((len(g) for g in self.totals), default=8)
        return (
            f"  {group:<{width}}  {len(verdicts):>3}/{self.totals[group]:<3} tests  "
            f"{self.requests.get(group, 0):>5} requests  {state}"
        )

    def _sent(self) -> int:
        client = getattr(self.state, "client", None)
        return int(client.stats.sent) if client is not None else 0

    def _draw_bar(self, group: str) -> None:
        total = sum(self.totals.values()) or 1
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max(10, min(30, columns - 60))
        filled = round(width * self.finished / total)
        bar = "#" * filled + "-" * (width - filled)
        text = (
            f"[{bar}] {self.finished}/{total} tests | {group} {len(self.done.get(group, []))}/"
            f"{self.totals[group]} | {self._sent()} requests sent"
        )
        self._write("\r\x1b[K" + text[: max(20, columns - 1)])
        self._bar_shown = True

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write("\r\x1b[K")
            self._bar_shown = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
