"""``results.json`` -> one self-contained ``report.html`` (Jinja2, autoescaped, no network fetches).

The report shows what the target sent, and the target may be hostile: every value goes through
Jinja2's autoescaping, the page carries a Content-Security-Policy that only admits its own inline
style and script (by hash), and it is readable with JavaScript off (the script only filters rows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from conformance.model.verdict import RunVerdict
from conformance.report.facts import run_facts
from conformance.report.rendering import asset, environment, shown, verdict_label
from conformance.report.reproduce import build_reproduction, rerun_command
from conformance.results.verdicts import VERDICT_LABELS

HTML_BODY_LIMIT = 8192  # characters of a response/request body shown inline (results.json keeps 16 KiB)
# Columns of the counts table: (label, verdicts counted in it).
COUNT_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("passed", ("pass",)),
    ("failed", ("fail",)),
    ("errored", ("error",)),
    ("blocked", ("blocked",)),
    ("skipped", ("skip",)),
    ("untested / not run / not judged", ("untested", "not-run", "not-judged")),
    ("not in profile", ("not-in-profile",)),
)
FILTERS = (
    ("all", "all requirements"),
    ("problems", "everything not passed"),
    ("fail", "failed"),
    ("error", "errored"),
    ("blocked", "blocked"),
    ("skip", "skipped"),
    ("untested", "untested"),
    ("not-run", "not run"),
    ("not-judged", "not judged"),
    ("not-in-profile", "not in profile"),
    ("pass", "passed"),
)


@cache
def _verdict_class(verdict: str) -> str:
    if verdict.startswith(RunVerdict.CONFORMANT):
        return "ok"
    if verdict.startswith(RunVerdict.UNREACHABLE):
        return "unreachable"
    if verdict.startswith((RunVerdict.INCOMPLETE, RunVerdict.INTERRUPTED)):
        return "incomplete"
    return "bad"


def _by_reason(gaps: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Unverified requirements grouped by why (a -k run leaves dozens out for one reason)."""
    grouped: dict[str, list[str]] = {}
    for gap in gaps:
        grouped.setdefault(str(gap.get("reason") or "not verified"), []).append(str(gap.get("id", "")))
    return list(grouped.items())


def _pairs(raw: Any) -> list[tuple[str, str]]:
    return [(str(p[0]), str(p[1])) for p in raw or () if isinstance(p, Sequence) and len(p) >= 2]


def _cut(text: str, limit: int = HTML_BODY_LIMIT) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _exchange_view(ex: Mapping[str, Any]) -> dict[str, Any]:
    request_body, request_cut = _cut(str(ex.get("request_body") or ""))
    view: dict[str, Any] = {
        "id": ex.get("id"),
        "method": ex.get("method", ""),
        "url": ex.get("url", ""),
        "request_headers": _pairs(ex.get("request_headers")),
        "request_body": request_body,
        "request_body_cut": request_cut,
        "error": ex.get("error"),
        "error_kind": ex.get("error_kind"),
        "retried": bool(ex.get("retried")),
        "logical": None,
        "response": None,
    }
    logical = ex.get("logical")
    if logical:
        view["logical"] = {
            "http_method": logical.get("http_method", "GET"),
            "auth": logical.get("auth") or "unsigned",
            "placement": logical.get("placement", "header"),
            "path": logical.get("path", ""),
            "tamper": bool(logical.get("tamper")),
            "params": _pairs(logical.get("params")),
            "query_on_post": _pairs(logical.get("query_on_post")),
        }
    resp = ex.get("response")
    if resp:
        body, shown_cut = _cut(str(resp.get("body") or ""))
        notes = []
        size = resp.get("body_bytes")
        if shown_cut:
            notes.append(
                f"showing the first {HTML_BODY_LIMIT} characters of {size} bytes; "
                "results.json holds up to 16 KiB"
            )
        if resp.get("body_truncated_in_report"):
            notes.append(f"the body was {size} bytes; results.json keeps only its first 16 KiB")
        if resp.get("body_truncated_by_cap"):
            notes.append("the target sent more than max_body_bytes; the suite stopped reading there")
        if resp.get("headers_truncated_by_cap"):
            notes.append(
                "the target sent more than max_header_bytes of headers; the suite stopped reading there"
            )
        if resp.get("headers_truncated_in_report"):
            notes.append("only a prefix of the headers is kept in the report")
        view["response"] = {
            "status": resp.get("status"),
            "reason": resp.get("reason", ""),
            "headers": _pairs(resp.get("headers")),
            "body": body,
            "body_bytes": size,
            "elapsed_ms": resp.get("elapsed_ms"),
            "notes": notes,
        }
    return view


_DIFFERS = re.compile(r"^(\w+) differs: XML (.*), JSON (.*)$")


def failing_side(f: Mapping[str, Any]) -> tuple[str, str] | None:
    """For an XML/JSON disagreement: ("XML" or "JSON", why), the side not carrying the value sent."""
    m = _DIFFERS.match(str(f.get("message", "")))
    ex = f.get("exchange") or {}
    if not m:
        return None
    sent = dict(_pairs((ex.get("logical") or {}).get("params")))
    name = m.group(1)
    if name not in sent:
        return None
    value = repr(sent[name])
    if m.group(2) == value and m.group(3) != value:
        return "JSON", f"its {name} is not the value sent ({value})"
    if m.group(3) == value and m.group(2) != value:
        return "XML", f"its {name} is not the value sent ({value})"
    return None


def _finding_view(f: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    ex = f.get("exchange")
    related = f.get("related_exchange")
    side = failing_side(f) if related else None
    replayed = related if side and side[0] == "XML" else ex
    return {
        "requirement": f.get("requirement", ""),
        "check": f.get("check", ""),
        "message": shown(f.get("message", "")),
        "expected": shown(f.get("expected", "")),
        "observed": shown(f.get("observed", "")),
        "severity": f.get("severity", "error"),
        "exchange": _exchange_view(ex) if ex else None,
        "related": _exchange_view(related) if related else None,
        "failing_side": f"{side[0]} ({side[1]}); the replay below sends both formats again" if side else "",
        "reproduction": build_reproduction(replayed, target, f) if replayed else None,
    }


def _headline(rec: Mapping[str, Any], limit: int = 240) -> str:
    """One line for the failures summary: the first error finding, else the test's message."""
    first = next((f for f in rec.get("findings") or () if f.get("severity", "error") == "error"), None)
    text = shown(first.get("message", "") if first else rec.get("message", "")).strip()
    line = text.splitlines()[0] if text else "(no message)"
    return line if len(line) <= limit else line[:limit] + "…"


def _anchors(tests: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """nodeid -> (id of the element a link to that test lands on, its verdict): its worst record."""
    rank = {"fail": 0, "error": 1, "skip": 2, "pass": 3}
    best: dict[str, tuple[int, int]] = {}
    for i, rec in enumerate(tests):
        key = (rank.get(rec.get("verdict", ""), 4), i)
        nodeid = rec.get("nodeid", "")
        if nodeid not in best or key < best[nodeid]:
            best[nodeid] = key
    return {nodeid: (f"test-{i}", str(tests[i].get("verdict", ""))) for nodeid, (_, i) in best.items()}


def _requirement_groups(
    requirements: list[Mapping[str, Any]], anchors: Mapping[str, tuple[str | None, str]]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """The requirement matrix: one row per requirement, grouped as the catalog groups them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for req in requirements:
        verdict = str(req.get("verdict", "untested"))
        groups.setdefault(str(req.get("group", "")), []).append(
            {
                "id": req.get("id", ""),
                "level": req.get("level", ""),
                "summary": req.get("summary", ""),
                "spec": req.get("spec", ""),
                "position": req.get("position", ""),
                "profile": req.get("profile", ""),
                "verdict": verdict,
                "label": verdict_label(verdict, str(req.get("level", ""))),
                "tests": [(t, *anchors.get(t, (None, ""))) for t in req.get("tests") or ()],
                "warnings": len(req.get("warnings") or ()),
                "unverified_reason": req.get("unverified_reason") or "",
            }
        )
    return list(groups.items())


def _count_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Verdict counts per level, in the columns of ``COUNT_COLUMNS``."""
    raw_counts = summary.get("counts") or {}
    counts = []
    for level in ("MUST", "SHOULD"):
        bucket = raw_counts.get(level) or {}
        cells = [sum(int(bucket.get(v, 0)) for v in verdicts) for _, verdicts in COUNT_COLUMNS]
        counts.append({"level": level, "cells": cells, "total": sum(int(n) for n in bucket.values())})
    return counts


def _failure_views(
    results: Mapping[str, Any], tests: list[Mapping[str, Any]], failing: set[int]
) -> list[dict[str, Any]]:
    """The evidence block of every failed test: findings, Hypothesis notes, the rerun command."""
    target = results.get("target") or {}
    failures = []
    for i in sorted(failing):
        rec = tests[i]
        failures.append(
            {
                "anchor": f"test-{i}",
                "nodeid": rec.get("nodeid", ""),
                "verdict": rec.get("verdict", ""),
                "when": rec.get("when", "call"),
                "requirements": list(rec.get("requirements") or ()),
                "doc": rec.get("doc", ""),
                "message": shown(rec.get("message", "")),
                "headline": _headline(rec),
                "hypothesis": [shown(n) for n in rec.get("hypothesis") or ()],
                "findings": [_finding_view(f, target) for f in rec.get("findings") or ()],
                "rerun": rerun_command(results, str(rec.get("nodeid", ""))),
            }
        )
    return failures


def _warning_views(requirements: list[Mapping[str, Any]], target: Mapping[str, Any]) -> list[dict[str, Any]]:
    """SHOULD warnings, per requirement."""
    warnings = []
    for req in requirements:
        items = [_finding_view(w, target) for w in req.get("warnings") or ()]
        if items:
            warnings.append({"id": req.get("id", ""), "level": req.get("level", ""), "findings": items})
    return warnings


def _test_rows(tests: list[Mapping[str, Any]], failing: set[int]) -> list[dict[str, Any]]:
    """One row per test record; a failed one links to its evidence."""
    rows = []
    for i, rec in enumerate(tests):
        verdict = str(rec.get("verdict", ""))
        rows.append(
            {
                "anchor": f"test-{i}" if i not in failing else f"row-{i}",
                "evidence": f"test-{i}" if i in failing else None,
                "nodeid": rec.get("nodeid", ""),
                "verdict": verdict,
                "label": VERDICT_LABELS.get(verdict, verdict.upper()),
                "when": rec.get("when", "call"),
                "requirements": list(rec.get("requirements") or ()),
                "duration": rec.get("duration"),
                "requests": rec.get("requests"),
                "reason": rec.get("message", "") if verdict == "skip" else "",
            }
        )
    return rows


def _page_assets() -> dict[str, str]:
    """The inline stylesheet and script, and the Content-Security-Policy that admits only them."""
    css, css_hash = asset("report.css")
    script, script_hash = asset("report.js")
    csp = (
        f"default-src 'none'; style-src {css_hash}; script-src {script_hash}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return {"css": css, "script": script, "csp": csp}


def build_context(results: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template shows, flattened from results.json (tolerant of missing keys)."""
    target = results.get("target") or {}
    run = results.get("run") or {}
    integrity = results.get("integrity") or {}
    summary = results.get("summary") or {}
    tests: list[Mapping[str, Any]] = list(results.get("tests") or ())
    requirements: list[Mapping[str, Any]] = list(results.get("requirements") or ())
    failing = {i for i, t in enumerate(tests) if t.get("verdict") in ("fail", "error")}
    rows = _test_rows(tests, failing)
    hashes = [("catalog.toml", integrity.get("catalog_sha256", ""))]
    hashes += sorted((str(k), str(v)) for k, v in (integrity.get("schemas_sha256") or {}).items())
    verdict = str(summary.get("verdict", "UNKNOWN"))
    return {
        "verdict": verdict,
        "settings_profile": run.get("settings_profile", ""),
        "verdict_class": _verdict_class(verdict),
        "exit_code": summary.get("exit_code"),
        "results_format": results.get("format", "?"),
        "must_not_passed": list(summary.get("must_not_passed") or ()),
        # results.json files older than the INCOMPLETE verdict have must_not_passed only
        "must_failed": list(summary.get("must_failed", summary.get("must_not_passed")) or ()),
        "unverified": _by_reason(summary.get("unverified") or ()),
        "unverified_count": len(summary.get("unverified") or ()),
        "accepted_unverified": _by_reason(summary.get("accepted_unverified") or ()),
        "accepted_count": len(summary.get("accepted_unverified") or ()),
        "interrupted": summary.get("interrupted"),
        "cut_short": summary.get("cut_short"),
        "partial": bool(summary.get("partial") or run.get("partial")),
        "should_warnings": list(summary.get("should_warnings") or ()),
        "target": target,
        "run": run,
        "facts": run_facts(results),
        "hashes": hashes,
        "count_columns": [label for label, _ in COUNT_COLUMNS],
        "counts": _count_rows(summary),
        "groups": _requirement_groups(requirements, _anchors(tests)),
        "failures": _failure_views(results, tests, failing),
        "warnings": _warning_views(requirements, target),
        "skips": [r for r in rows if r["verdict"] == "skip"],
        "tests": rows,
        "filters": FILTERS,
        **_page_assets(),
    }


def render_html(results: dict[str, Any]) -> str:
    """The complete report page for one results dict (as loaded from results.json)."""
    return environment().get_template("report.html.j2").render(**build_context(results))
