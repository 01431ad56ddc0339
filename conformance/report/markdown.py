"""Markdown for CI pages: the run summary a GitHub job page shows, and the pieces ``report diff`` uses.

One renderer for both (``conformance run`` appends :func:`run_summary` to ``$GITHUB_STEP_SUMMARY``;
``conformance report diff --format markdown`` builds its tables with :func:`table` and :func:`cell`),
so a value reads the same wherever a CI shows it. Target text (finding messages, reasons) is
escaped: a hostile server cannot add links, images or HTML to the job page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.model.verdict import RunVerdict
from conformance.report.evidence import must_failures

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
CELL_LIMIT = 300  # characters of target text in one table cell
ROW_LIMIT = 50  # rows per table; the rest is in report.html


def cell(text: object, limit: int = CELL_LIMIT) -> str:
    """One table cell of text: on one line, Markdown and HTML characters escaped, long text cut."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _SPECIAL.sub(r"\\\1", flat)


def code(text: object) -> str:
    """Inline code that survives backticks in ``text`` (CommonMark: a longer fence, padded)."""
    flat = " ".join(str(text).split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", flat)), default=0) + 1)
    return f"{fence} {flat} {fence}" if "`" in flat else f"{fence}{flat}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table; cells are used as given (escape them with :func:`cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _capped(header: Sequence[str], rows: list[list[str]], what: str) -> list[str]:
    """A table of at most :data:`ROW_LIMIT` rows (a job page is not the full report)."""
    lines = table(header, rows[:ROW_LIMIT])
    if len(rows) > ROW_LIMIT:
        lines += ["", f"... and {len(rows) - ROW_LIMIT} more {what} in report.html"]
    return lines


def run_summary(results: Mapping[str, Any], report_files: Sequence[str]) -> list[str]:
    """The job-page summary of a run: verdict, failed MUSTs with their first finding, unverified
    MUSTs with their reasons, accepted gaps, and the names of the report files."""
    summary = results.get("summary") or {}
    run = results.get("run") or {}
    target = results.get("target") or {}
    verdict = str(summary.get("verdict") or "NO VERDICT")
    lines = [f"### Conformance: {cell(verdict)}", ""]
    facts = [
        f"target {code(target.get('base_url', '?'))}",
        f"profile {code(run.get('profile', '?'))}",
        f"exit code {code(summary.get('exit_code', '?'))}",
        f"seed {code(run.get('seed', '?'))}",
        f"{run.get('requests_sent', 0)} requests",
    ]
    lines += [" | ".join(facts), ""]
    stopped = (summary.get("stopped") or {}).get("reason") or (
        run.get("preflight_error") if verdict == RunVerdict.UNREACHABLE else None
    )
    if stopped:
        lines += [f"**Stopped:** {cell(stopped, 1000)}", ""]
    failures = must_failures(results) if summary.get("must_failed") else []
    if failures:
        lines += [f"#### MUST failed ({len(summary['must_failed'])})", ""]
        rows = [[code(ev.requirement), cell(ev.message), code(ev.nodeid)] for ev in failures]
        lines += [*_capped(("requirement", "first finding", "test"), rows, "failures"), ""]
    for key, title in (
        ("unverified", "MUST not verified"),
        ("accepted_unverified", "MUST accepted as unverified"),
    ):
        gaps = summary.get(key) or []
        if gaps:
            lines += [f"#### {title} ({len(gaps)})", ""]
            by_reason: dict[str, list[str]] = {}  # one row per reason, as on the console
            for gap in gaps:
                by_reason.setdefault(str(gap.get("reason") or "not verified"), []).append(str(gap.get("id")))
            rows = [[", ".join(code(i) for i in ids), cell(why)] for why, ids in by_reason.items()]
            lines += [*_capped(("requirements", "reason"), rows, "reasons"), ""]
    if summary.get("should_warnings"):
        lines += ["**Warnings (SHOULD):** " + ", ".join(code(w) for w in summary["should_warnings"]), ""]
    if report_files:
        lines.append("**Reports:** " + ", ".join(code(name) for name in report_files))
    return lines


def append_step_summary(
    results: Mapping[str, Any], report_dir: Path, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Append :func:`run_summary` to the file ``$GITHUB_STEP_SUMMARY`` names, when it names one.

    Best effort: a summary that cannot be written costs a note, never the run's verdict.
    """
    env = os.environ if environ is None else environ
    target = env.get(SUMMARY_ENV)
    if not target:
        return None
    files = [p.name for p in sorted(report_dir.iterdir()) if p.is_file()] if report_dir.is_dir() else []
    shown = [n for n in ("report.html", "junit.xml", "results.json", "exchanges.har") if n in files]
    text = "\n".join(run_summary(results, [f"{report_dir.as_posix().rstrip('/')}/{n}" for n in shown]))
    path = Path(target)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text + "\n\n")
    return path
