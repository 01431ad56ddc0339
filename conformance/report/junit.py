"""junit.xml as CI test views show it: requirement IDs in the names, findings as the failure messages.

pytest's junitxml writes the file; this pass rewrites it once the run's results are known, so that
GitLab's and GitHub's test views show ``[FORMAT-JSONP] test_callback_gives_jsonp`` and, for a
failure, what was expected and observed, then the replay command and where the full report is.
Hypothesis' ``hypothesis-statistics-*`` properties (base64 blobs nobody reads in a CI view) are
dropped; the conformance testsuite properties (verdict, unverified and accepted MUSTs) stay.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.report.rendering import shown
from conformance.report.reproduce import build_reproduction
from conformance.results.files import write_atomic

MESSAGE_LIMIT = 1000  # the message attribute is one line in most viewers


def _nodeid(case: ET.Element) -> str:
    """pytest's nodeid back from junitxml's classname (dotted path) and name."""
    classname = case.get("classname", "")
    return f"{classname.replace('.', '/')}.py::{case.get('name', '')}"


def _finding_text(f: Mapping[str, Any]) -> list[str]:
    lines = [f"[{f.get('requirement', '')}] {shown(f.get('message', ''))}"]
    if f.get("expected") or f.get("observed"):
        lines.append(f"  expected: {shown(f.get('expected', ''))}")
        lines.append(f"  observed: {shown(f.get('observed', ''))}")
    return lines


def failure_text(rec: Mapping[str, Any], target: Mapping[str, Any], report: str) -> tuple[str, str]:
    """(message, body) for a failing test: findings with expected/observed, replay, and the link to the
    requirement in report.html relative to the report dir (``report.html#req-ID``, next to junit.xml),
    never a path on the machine that ran it (a CI runner's workspace means nothing in the artifact)."""
    errors = [f for f in rec.get("findings") or () if f.get("severity", "error") == "error"]
    lines: list[str] = []
    for f in errors:
        lines += _finding_text(f)
    if not errors:
        lines.append(shown(rec.get("message") or "failed"))
    first = errors[0] if errors else None
    repro = build_reproduction(first.get("exchange"), target, first) if first else None
    if repro is not None:
        lines += ["", "reproduce (re-judges the answer: exit 1 while it still fails):", repro.text]
    rid = (first or {}).get("requirement") or next(iter(rec.get("requirements") or ()), "")
    link = f"{Path(report).name}#req-{rid}" if rid else Path(report).name
    lines += ["", f"full evidence: {link} (in the report directory, next to junit.xml)"]
    message = " | ".join(_finding_text(first)) if first else lines[0]
    if repro is not None:
        message += f" | replay: {repro.command}"
    message += f" | report: {link}"
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return message, "\n".join(lines)


def junit_properties(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The verdict and every unverified or accepted-unverified MUST, as JUnit testsuite properties."""
    summary = results["summary"]
    props = [
        ("conformance.verdict", str(summary["verdict"])),
        ("conformance.exit_code", str(summary["exit_code"])),
        ("conformance.partial", "true" if summary.get("partial") else "false"),
    ]
    run = results.get("run") or {}
    props += [
        ("conformance.throttled", str(run.get("throttled") or 0)),
        ("conformance.throttle_wait_seconds", str(run.get("throttle_wait_seconds") or 0)),
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


def rewrite_junit(path: Path, results: Mapping[str, Any], report: str, dest: Path | None = None) -> None:
    """Rename testcases after their requirements, and put the findings into failures and errors.

    The result goes to ``dest`` (default: ``path`` itself), written atomically; ReportWriteError
    when it cannot be written.
    """
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    root = tree.getroot()
    records: dict[str, Mapping[str, Any]] = {}
    for rec in results.get("tests") or ():
        prev = records.get(rec.get("nodeid", ""))
        if prev is None or rec.get("verdict") in ("fail", "error"):
            records[rec.get("nodeid", "")] = rec
    target = results.get("target") or {}
    for parent in root.iter():
        for props in parent.findall("properties"):
            for prop in props.findall("property"):
                if prop.get("name", "").startswith("hypothesis-statistics"):
                    props.remove(prop)
            if len(props) == 0:
                parent.remove(props)
    for case in root.iter("testcase"):
        rec = records.get(_nodeid(case))
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        ids = (props.get("requirements") or "").split(",") if props.get("requirements") else []
        if rec is not None:
            ids = list(rec.get("requirements") or ids)
        if ids:
            case.set("name", f"[{', '.join(ids)}] {case.get('name', '')}")
        if rec is None:
            continue
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None and rec.get("verdict") in ("fail", "error"):
                message, body = failure_text(rec, target, report)
                el.set("message", message)
                el.text = body
    buf = io.BytesIO()
    tree.write(buf, encoding="utf-8", xml_declaration=True)
    write_atomic(dest or path, buf.getvalue())
