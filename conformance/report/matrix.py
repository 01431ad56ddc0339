"""The implementation matrix: many results.json files -> ``matrix.json`` and one ``matrix.html``.

Implementations are columns, requirements rows (grouped by catalog section, as in the report), each
cell the requirement's verdict linking to that implementation's evidence (its report.html anchor).
Merging reads each file once and keeps only what the page shows, so hundreds of results files merge
in seconds. The page is self-contained and script-free: its filter ("only where implementations
disagree") is a CSS checkbox, and a Content-Security-Policy admits only its own inline style, so
nothing an implementation put into its name, URL or answers can run.

Each column is judged by its own evidence, never by what its file says about itself: levels,
groups and summaries come from this suite's catalog, and every verdict is folded again from the
file's test records (:mod:`conformance.results.rederive`); a file whose own conclusions disagree
with its records is marked. A ``certificate.zip`` is verified (with the reviewer's trust anchors)
and its column says whether a trusted key vouches for it or it is self-reported.

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

from conformance.catalog import GROUP_ORDER, catalog_sha256, load_catalog
from conformance.model.text import printable
from conformance.model.verdict import RunVerdict
from conformance.report.certificate_check import verify_members
from conformance.report.certificate_zip import DamagedMember, UnsafeBundle, read_bundle
from conformance.report.rendering import asset, environment, verdict_label
from conformance.report.trust import TrustedKey
from conformance.results.files import write_atomic
from conformance.results.rederive import Rederived, rederive
from conformance.results.untrusted import UntrustedInputError, load_results_file

MATRIX_FORMAT = 2  # 2: verdicts re-derived, evidence kind per column, notices
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
    rederived: Rederived
    evidence: str = "self-reported results.json"  # or a verified / unproven / invalid certificate
    signer: str | None = None  # fingerprint of the trusted key that signed its certificate
    report: str | None = None  # path of its report.html, relative to the matrix page
    certificate: str | None = None
    verdicts: dict[str, str] = field(default_factory=dict)


def _column_name(path: Path) -> str:
    """results.json -> its directory's name (one run per directory, as `run` and CI write them)."""
    return path.parent.name if path.stem in ("results", "") and path.parent.name else path.stem


def _certificate_column(path: Path, anchors: Sequence[TrustedKey]) -> tuple[dict[str, Any], str, str | None]:
    """A certificate.zip's results, what vouches for them, and its signer (MatrixError when unusable)."""
    try:
        members = read_bundle(path)
    except (UnsafeBundle, DamagedMember) as exc:
        raise MatrixError(printable(str(exc), 300)) from None
    v = verify_members(members, anchors)
    if v.results is None:
        first = v.problems[0] if v.problems else "no results.json"
        raise MatrixError(f"{printable(str(path), 200)}: no usable evidence ({printable(first, 200)})")
    if not v.valid:
        return v.results, f"certificate INVALID: {printable(v.problems[0], 200)}", None
    if v.signer is None:
        return v.results, "certificate, origin unproven (no trusted key vouches for it)", None
    return (
        v.results,
        f"verified certificate, signed by {v.signer.fingerprint[:16]} ({v.signer.source})",
        (v.signer.fingerprint),
    )


def load_implementation(
    path: str | Path, out_dir: Path, name: str | None = None, anchors: Sequence[TrustedKey] = ()
) -> Implementation:
    """One column from a results.json or a certificate.zip; MatrixError (one line) when unusable."""
    p = Path(path)
    signer = None
    try:
        if p.suffix == ".zip":
            data, evidence, signer = _certificate_column(p, anchors)
            default_name = str(data["target"]["base_url"])
        else:
            data, evidence, default_name = load_results_file(p), "self-reported results.json", _column_name(p)
    except UntrustedInputError as exc:
        raise MatrixError(str(exc)) from None
    rederived = rederive(data)
    impl = Implementation(name or default_name, str(path), data, rederived, evidence, signer)
    impl.verdicts = {r["id"]: r["verdict"] for r in rederived.requirements}
    for attr, file in (("report", "report.html"), ("certificate", "certificate.zip")):
        sibling = p if (file == "certificate.zip" and p.suffix == ".zip") else p.parent / file
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


def _notices(impls: Sequence[Implementation]) -> list[str]:
    """What makes columns hard to compare, said above the table."""
    notices = []
    for what, values in (
        ("catalogs", {str(i.results["integrity"].get("catalog_sha256", ""))[:12] for i in impls}),
        ("profiles", {i.rederived.profile for i in impls}),
        ("suite versions", {str(i.results["suite"]["version"]) for i in impls}),
    ):
        if len(values) > 1:
            shown = ", ".join(sorted(printable(v, 40) for v in values))
            notices.append(f"These columns mix {len(values)} {what} ({shown}): compare like with like.")
    ours = catalog_sha256()
    foreign = [i.name for i in impls if i.results["integrity"].get("catalog_sha256") != ours]
    if foreign:
        notices.append(
            f"{len(foreign)} column(s) were run under another catalog than this suite's ({ours[:12]}) and "
            "are judged under this suite's: " + ", ".join(printable(n, 60) for n in foreign[:10])
        )
    return notices


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
    """matrix.json's content: columns, grouped rows with one cell per column, per-column totals.

    Rows, levels, groups and summaries are this suite's catalog; cells are each column's re-derived
    verdicts, never what a file says of itself.
    """
    _unique_names(impls)
    catalog = load_catalog()
    levels = {rid: r.level for rid, r in catalog.items()}
    groups: dict[str, list[dict[str, Any]]] = {}
    for req in sorted(catalog.values(), key=lambda r: (*GROUP_ORDER, r.group).index(r.group)):
        cells = []
        for impl in impls:
            verdict = impl.verdicts.get(req.id, "not-in-catalog")
            href = f"{quote(impl.report.replace(os.sep, '/'))}#req-{quote(req.id)}" if impl.report else None
            cells.append({"verdict": verdict, "label": _label(verdict, req.level), "href": href})
        meaningful = {c["verdict"] for c in cells if c["verdict"] not in _NEUTRAL}
        row = {"id": req.id, "group": req.group, "level": req.level, "summary": req.summary}
        groups.setdefault(req.group, []).append({**row, "disagree": len(meaningful) > 1, "cells": cells})
    catalogs = sorted({str(i.results["integrity"].get("catalog_sha256", "")) for i in impls})
    columns = []
    for impl in impls:
        r = impl.results
        claimed = str(r["summary"]["verdict"])
        columns.append(
            {
                "name": impl.name,
                "source": impl.source,
                "base_url": str(r["target"]["base_url"]),
                "bounds_policy": str(r["target"]["bounds_policy"]),
                "profile": impl.rederived.profile,
                "verdict": impl.rederived.verdict,
                "claimed_verdict": claimed,
                "exit_code": impl.rederived.summary["exit_code"],
                "evidence": impl.evidence,
                "signer": impl.signer,
                "disagrees_with_own_records": bool(impl.rederived.problems),
                "problems": [printable(p, 300) for p in impl.rederived.problems[:5]],
                "suite_version": str(r["suite"]["version"]),
                "catalog_sha256": str(r["integrity"].get("catalog_sha256", "")),
                "seed": r["run"]["seed"],
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
        "notices": _notices(impls),
        "disagreements": sum(row["disagree"] for rows_ in groups.values() for row in rows_),
        "groups": [{"group": g, "requirements": reqs} for g, reqs in groups.items()],
    }


# ------------------------------------------------------------------ the page
def _verdict_class(verdict: str) -> str:
    if verdict == RunVerdict.CONFORMANT:
        return "ok"
    if verdict.startswith(RunVerdict.NOT_CONFORMANT):
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


def merge_files(
    paths: Iterable[str | Path], out_dir: Path, anchors: Sequence[TrustedKey] = ()
) -> tuple[Path, Path, dict[str, Any]]:
    """``conformance matrix r1.json r2.json c.zip ...``: merge finished runs (CI matrix jobs)."""
    impls = [load_implementation(p, out_dir, anchors=anchors) for p in paths]
    return write_matrix(impls, out_dir)
