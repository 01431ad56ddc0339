"""A results file judged by its own evidence under this suite's catalog, never by its summary.

A results.json (inside a certificate, or handed to ``conformance matrix``) carries both evidence
(the test records: verdicts, findings) and conclusions (requirement verdicts, levels, the summary).
Whoever wrote the file could edit the conclusions. This module folds the evidence again with the
rules the run used (:mod:`.verdicts`), taking levels, groups, profiles and which requirements each
test verifies from this suite's own catalog and index, and lists every place where the file's
conclusions disagree with that fold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from conformance.catalog import load_catalog, load_index
from conformance.model.text import printable
from conformance.results.verdicts import (
    UNVERIFIED,
    RequirementEntry,
    Summary,
    overall,
    requirement_verdicts,
)

_PARAMETRIZED = re.compile(r"\[.*\]$")


@cache
def requirements_by_test() -> dict[str, tuple[str, ...]]:
    """Suite test (``file.py::name``) -> the requirement IDs it verifies, from the shipped index."""
    return {entry["test"]: tuple(r["id"] for r in entry["requirements"]) for entry in load_index()}


def test_requirements(nodeid: str) -> tuple[str, ...] | None:
    """What this suite's test ``nodeid`` (parametrized or not) verifies; None for no such test."""
    return requirements_by_test().get(_PARAMETRIZED.sub("", nodeid))


def verdict_family(verdict: str) -> str:
    """Verdicts that mean the same for a certificate: every kind of "not verified" is one."""
    return "unverified" if verdict in UNVERIFIED else verdict


@dataclass
class Rederived:
    """The fold of one results file's evidence, and where the file's own conclusions disagree."""

    profile: str
    requirements: list[RequirementEntry]
    summary: Summary
    accepted: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return str(self.summary["verdict"])


def _records(tests: list[Mapping[str, Any]], problems: list[str]) -> list[dict[str, Any]]:
    """The test records with the requirements *this suite* says each test verifies."""
    out = []
    for rec in tests:
        nodeid = str(rec["nodeid"])
        ids = test_requirements(nodeid)
        if ids is None:
            problems.append(f"test {printable(nodeid, 120)} is not a test of this suite")
            continue
        claimed = sorted(str(i) for i in rec.get("requirements") or ())
        if claimed != sorted(ids):
            problems.append(
                f"test {printable(nodeid, 120)}: the file says it verifies "
                f"{printable(', '.join(claimed), 120)}; "
                f"this suite's index says {', '.join(sorted(ids))}"
            )
        out.append({**rec, "requirements": list(ids)})
    return out


def _compare_requirements(
    results: Mapping[str, Any], ours: list[RequirementEntry], problems: list[str]
) -> None:
    catalog = load_catalog()
    theirs: dict[str, Mapping[str, Any]] = {}
    for r in results["requirements"]:
        rid = str(r["id"])
        if rid not in catalog:
            problems.append(f"requirement {printable(rid, 80)} is not in this suite's catalog")
            continue
        theirs[rid] = r
    for mine in ours:
        rid = mine["id"]
        entry = theirs.get(rid)
        if entry is None:
            problems.append(f"requirement {rid} ({mine['level']}) is missing from the file")
            continue
        for key in ("level", "group", "profile"):
            if key in entry and entry[key] != mine[key]:
                problems.append(
                    f"requirement {rid}: the file labels its {key} {printable(entry[key], 40)}; "
                    f"this suite's catalog says {mine[key]}"
                )
        if verdict_family(str(entry["verdict"])) != verdict_family(mine["verdict"]):
            problems.append(
                f"requirement {rid}: the file says {printable(entry['verdict'], 40)}; its own test "
                f"records give {mine['verdict']}"
            )


def rederive(results: Mapping[str, Any]) -> Rederived:
    """Fold a schema-valid results document's records again; every disagreement is a problem line.

    ``results`` must have passed :func:`conformance.results.untrusted.validate` (the shape is
    trusted, the content is not).
    """
    run = results["run"]
    profile = str(run["profile"])
    problems: list[str] = []
    records = _records(list(results["tests"]), problems)
    catalog = load_catalog()
    accepted = sorted({str(a) for a in run.get("accept_unverified") or ()})
    for rid in accepted:
        if rid not in catalog:
            problems.append(f"accepted gap {printable(rid, 80)} is not a requirement of this suite")
    cut = next((str(r.get("message") or "") for r in records if r["verdict"] == "not-run"), None)
    ours = requirement_verdicts(records, profile, partial=bool(run.get("partial")))
    summary = overall(
        ours,
        run.get("preflight_error"),
        accepted=accepted,
        interrupted=run.get("interrupted"),
        cut_short=cut.removeprefix("not verified: ") if cut is not None else None,
    )
    _compare_requirements(results, ours, problems)
    stated = results["summary"]
    stated_verdict = str(stated["verdict"]).removesuffix(" (partial run)")
    if stated_verdict != summary["verdict"]:
        problems.append(
            f"verdict: the file says {printable(stated_verdict, 40)}; its own test records fold to "
            f"{summary['verdict']} under this suite's rules"
        )
    stated_failed = sorted(str(i) for i in stated.get("must_failed") or ())
    if "must_failed" in stated and stated_failed != sorted(summary["must_failed"]):
        problems.append(
            f"summary: the file lists failed MUSTs {printable(', '.join(stated_failed) or 'none', 200)}; "
            f"its records give {', '.join(summary['must_failed']) or 'none'}"
        )
    return Rederived(profile, ours, summary, accepted, problems)
