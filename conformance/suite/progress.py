"""The progress ``conformance run`` draws while the suite runs: a pytest plugin, so it lives with the
suite; what each line says is rendered by :mod:`conformance.report.console`."""

from __future__ import annotations

import shutil
from typing import IO, Any

import pytest

from conformance.catalog import load_catalog
from conformance.report.console import TEST_RANK, paint, record_verdict


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
        verdict = max((record_verdict(r) for r in records), key=lambda v: TEST_RANK.get(v, 0), default="pass")
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
        counts = {v: verdicts.count(v) for v in TEST_RANK if verdicts.count(v)}
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
