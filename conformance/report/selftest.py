"""The reports of ``conformance selftest``: the console matrix, selftest.json and selftest.html.

Rendering only, from plain dicts (one per case, as ``CaseResult.to_dict`` gives them), so the
report layer never depends on the command that ran the cases. The page is Jinja2, autoescaped and
strict: a fault's description or a note that holds markup is shown, never run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.report.rendering import environment
from conformance.results.files import write_atomic

SELFTEST_FORMAT = 1


def write_reports(
    cases: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], meta: Mapping[str, Any], report_dir: Path
) -> list[Path]:
    """selftest.json and selftest.html beside the per-case reports (linked relative to the page)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    data = {"format": SELFTEST_FORMAT, **meta, "summary": summary, "cases": [dict(c) for c in cases]}
    json_path = report_dir / "selftest.json"
    write_atomic(json_path, json.dumps(data, indent=2, ensure_ascii=False))
    for case in data["cases"]:
        case["report_link"] = os.path.relpath(case["report_dir"], report_dir) if case["report_dir"] else ""
    html_path = report_dir / "selftest.html"
    write_atomic(html_path, environment(strict=True).get_template("selftest/selftest.html.j2").render(**data))
    return [json_path, html_path]


def _notes(case: Mapping[str, Any]) -> str:
    """What the console shows beside a case: who detected a fault, or a variant's warnings."""
    if case["kind"] == "fault":
        blocked = case["blocked"]
        notes = ", ".join(rid for rid in case["detected_by"] if rid not in blocked)
        notes += f" (+{len(blocked)} blocked)" if blocked else ""
    else:
        notes = ", ".join(f"warn {w}" for w in case["warnings"])
    if case["note"]:
        notes = f"{notes} ({case['note']})" if notes else case["note"]
    return notes


def matrix_lines(cases: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], seconds: float) -> list[str]:
    """The console matrix: a row per case, the info on detection, then the totals and the outcome."""
    width = max((len(c["name"]) for c in cases), default=10)
    lines = [
        "",
        f"{'kind':<9}  {'name':<{width}}  {'group':<8}  {'profile':<7}  {'result':<10}  detected by / notes",
        f"{'-' * 9}  {'-' * width}  {'-' * 8}  {'-' * 7}  {'-' * 10}  {'-' * 30}",
    ]
    for c in cases:
        lines.append(
            f"{c['kind']:<9}  {c['name']:<{width}}  {c['group']:<8}  {c['profile']:<7}  "
            f"{c['outcome']:<10}  {_notes(c)}"
        )
    detected = [c for c in cases if c["kind"] == "fault" and c["ok"]]
    stale = [c for c in detected if c["missing_expected"]]
    if stale:
        lines += ["", "info: detected, but not by every requirement the fault table expects (detected_by):"]
        lines += [
            f"  {c['name']}: expected {', '.join(c['missing_expected'])} to fail; they passed" for c in stale
        ]
    also = sum(1 for c in detected if c["unexpected"])
    if also:
        lines += [
            "",
            f"info: {also} fault(s) also failed requirements beyond detected_by (see selftest.html)",
        ]
    lines.append("")
    if summary["faults_total"]:
        lines.append(f"faults detected: {summary['faults_detected']}/{summary['faults_total']}")
    if summary["variants_total"]:
        lines.append(f"conformant variants passed: {summary['variants_passed']}/{summary['variants_total']}")
        proven = [c["name"] for c in cases if c["kind"] == "variant" and c["ok"]]
        if proven:
            lines.append(f"latitude proven: {', '.join(proven)}")
    if summary["reference_passed"] is not None:
        lines.append(f"clean reference: {'pass' if summary['reference_passed'] else 'FAIL'}")
    lines += [f"UNDETECTED fault: {name}" for name in summary["undetected_faults"]]
    lines += [f"FAILED conformant variant: {name}" for name in summary["failed_variants"]]
    lines += [
        "FAILED: the clean reference does not pass its own suite"
        for c in cases
        if c["kind"] == "reference" and not c["ok"]
    ]
    lines.append(f"selftest: {'OK' if summary['ok'] else 'FAILED'} ({len(cases)} runs in {seconds:.0f}s)")
    return lines
