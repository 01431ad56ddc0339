"""The implementation matrix: many results.json files -> ``matrix.json`` and one ``matrix.html``.

Implementations are columns, requirements rows (grouped by catalog section, as in the report), each
cell the requirement's verdict linking to that implementation's evidence (its report.html anchor).
Merging reads each file once and keeps only what the page shows, so hundreds of results files merge
in seconds. The page is self-contained and script-free: its filter ("only where implementations
disagree") is a CSS checkbox, and a Content-Security-Policy admits only its own inline style, so
nothing an implementation put into its name, URL or answers can run.

Running targets is ``conformance.commands.matrix``; this module only merges and renders.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conformance.report.rendering import asset, environment, verdict_label
from conformance.results.files import write_atomic

MATRIX_FORMAT = 1
# Verdicts that say nothing about the implementation (a profile or a -k selection left them out):
# they never make a row "disagree".
_NEUTRAL = {"not-in-profile", "not-run", "not-in-catalog"}
_PASSED, _FAILED = {"pass"}, {"fail"}


class MatrixError(Exception):
    """An input that is not a results file (exit 2, one line)."""


@dataclass
class Implementation:
    """One column: who it is, what it declared, and its verdict per requirement."""

    name: str
    source: str
    results: dict[str, Any]
    report: str | None = None  # path of its report.html, relative to the matrix page
    certificate: str | None = None
    verdicts: dict[str, str] = field(default_factory=dict)


def _column_name(path: Path) -> str:
    """results.json -> its directory's name (one run per directory, as `run` and CI write them)."""
    return path.parent.name if path.stem in ("results", "") and path.parent.name else path.stem


def load_implementation(path: str | Path, out_dir: Path, name: str | None = None) -> Implementation:
    """Read one results.json; MatrixError when it is not one."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes())
    except (OSError, ValueError) as exc:
        raise MatrixError(f"{path}: cannot read a results.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise MatrixError(f"{path}: not a conformance results.json (no 'requirements' list)")
    impl = Implementation(name or _column_name(p), str(path), data)
    for req in data["requirements"]:
        if isinstance(req, dict) and isinstance(req.get("id"), str):
            impl.verdicts[req["id"]] = str(req.get("verdict", "untested"))
    for attr, file in (("report", "report.html"), ("certificate", "certificate.zip")):
        sibling = p.parent / file
        if sibling.is_file():
            setattr(impl, attr, os.path.relpath(sibling, out_dir))
    return impl


def _unique_names(impls: Sequence[Implementation]) -> None:
    seen: dict[str, int] = {}
    for impl in impls:
        n = seen.get(impl.name, 0) + 1
        seen[impl.name] = n
        if n > 1:
            impl.name = f"{impl.name} ({n})"


def _label(verdict: str, level: str) -> str:
    return "N/A" if verdict == "not-in-catalog" else verdict_label(verdict, level)


def _totals(impl: Implementation, levels: Mapping[str, str]) -> dict[str, int]:
    totals = {"must_passed": 0, "must_failed": 0, "must_unverified": 0, "should_warnings": 0, "in_profile": 0}
    for rid, verdict in impl.verdicts.items():
        if verdict in _NEUTRAL:
            continue
        totals["in_profile"] += 1
        if levels.get(rid) == "MUST":
            key = (
                "must_passed"
                if verdict in _PASSED
                else "must_failed"
                if verdict in _FAILED
                else "must_unverified"
            )
            totals[key] += 1
        elif verdict in _FAILED:
            totals["should_warnings"] += 1
    return totals


def build_matrix(impls: Sequence[Implementation]) -> dict[str, Any]:
    """matrix.json's content: columns, grouped rows with one cell per column, per-column totals."""
    _unique_names(impls)
    rows: dict[str, dict[str, Any]] = {}
    for impl in impls:  # catalog order, as each file lists it; a requirement only some know goes last
        for req in impl.results["requirements"]:
            if isinstance(req, dict) and isinstance(req.get("id"), str) and req["id"] not in rows:
                rows[req["id"]] = {
                    "id": req["id"],
                    "group": str(req.get("group", "")),
                    "level": str(req.get("level", "")),
                    "summary": str(req.get("summary", "")),
                }
    levels = {rid: r["level"] for rid, r in rows.items()}
    groups: dict[str, list[dict[str, Any]]] = {}
    for rid, row in rows.items():
        cells = []
        for impl in impls:
            verdict = impl.verdicts.get(rid, "not-in-catalog")  # a run under another catalog
            href = f"{quote(impl.report.replace(os.sep, '/'))}#req-{quote(rid)}" if impl.report else None
            cells.append({"verdict": verdict, "label": _label(verdict, row["level"]), "href": href})
        meaningful = {c["verdict"] for c in cells if c["verdict"] not in _NEUTRAL}
        groups.setdefault(row["group"], []).append({**row, "disagree": len(meaningful) > 1, "cells": cells})
    catalogs = sorted({str((i.results.get("integrity") or {}).get("catalog_sha256", "")) for i in impls})
    columns = []
    for impl in impls:
        r = impl.results
        summary, target, run = r.get("summary") or {}, r.get("target") or {}, r.get("run") or {}
        columns.append(
            {
                "name": impl.name,
                "source": impl.source,
                "base_url": str(target.get("base_url", "")),
                "bounds_policy": str(target.get("bounds_policy", "")),
                "profile": str(run.get("profile", "")),
                "verdict": str(summary.get("verdict", "")),
                "exit_code": summary.get("exit_code"),
                "suite_version": str((r.get("suite") or {}).get("version", "")),
                "catalog_sha256": str((r.get("integrity") or {}).get("catalog_sha256", "")),
                "seed": run.get("seed"),
                "report": impl.report,
                "certificate": impl.certificate,
                "totals": _totals(impl, levels),
            }
        )
    return {
        "format": MATRIX_FORMAT,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "implementations": columns,
        "catalogs": catalogs,
        "disagreements": sum(row["disagree"] for rows_ in groups.values() for row in rows_),
        "groups": [{"group": g, "requirements": reqs} for g, reqs in groups.items()],
    }


# ------------------------------------------------------------------ the page
def _verdict_class(verdict: str) -> str:
    if verdict == "CONFORMANT":
        return "ok"
    if verdict.startswith("NOT CONFORMANT"):
        return "bad"
    return "grey"


@functools.cache
def _cell_class(verdict: str, label: str) -> str:
    if label == "WARN":
        return "warn"
    return re.sub(r"[^a-z-]", "", verdict) or "untested"


def render_matrix_html(matrix: Mapping[str, Any]) -> str:
    """One self-contained page: autoescaped, inline CSS by hash, no script."""
    css, css_hash = asset("matrix.css")
    csp = f"default-src 'none'; style-src {css_hash}; img-src data:; base-uri 'none'; form-action 'none'"
    return (
        environment()
        .get_template("matrix.html.j2")
        .render(
            m=matrix,
            css=css,
            csp=csp,
            verdict_class=_verdict_class,
            cell_class=_cell_class,
        )
    )


def write_matrix(impls: Sequence[Implementation], out_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    matrix = build_matrix(impls)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "matrix.json", out_dir / "matrix.html"
    write_atomic(json_path, json.dumps(matrix, ensure_ascii=False, separators=(",", ":")))
    write_atomic(html_path, render_matrix_html(matrix))
    return json_path, html_path, matrix


def merge_files(paths: Iterable[str | Path], out_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    """``conformance matrix r1.json r2.json ...``: merge finished runs (CI matrix jobs)."""
    impls = [load_implementation(p, out_dir) for p in paths]
    return write_matrix(impls, out_dir)
