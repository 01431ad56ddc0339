"""The first piece of evidence for each failed MUST, for the console summary (the HTML shows all)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.reproduce import Reproduction, build_reproduction

BAD_VERDICTS = ("fail", "error")


@dataclass(frozen=True)
class FailureEvidence:
    requirement: str
    nodeid: str
    message: str
    reproduction: Reproduction | None


def _first_line(text: str, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[:limit] + "…"


def must_failures(results: Mapping[str, Any]) -> list[FailureEvidence]:
    """For each failed or errored MUST: the first finding naming it (else the failing test's message)."""
    records: dict[str, list[Mapping[str, Any]]] = {}
    for rec in results.get("tests") or ():
        records.setdefault(rec.get("nodeid", ""), []).append(rec)
    target = results.get("target") or {}
    out = []
    for req in results.get("requirements") or ():
        if req.get("level") != "MUST" or req.get("verdict") not in BAD_VERDICTS:
            continue
        failing = [
            r for t in req.get("tests") or () for r in records.get(t, ()) if r.get("verdict") in BAD_VERDICTS
        ]
        found = next(
            (
                (r, f)
                for r in failing
                for f in r.get("findings") or ()
                if f.get("requirement") == req["id"] and f.get("severity", "error") == "error"
            ),
            None,
        )
        if found is None and failing:
            rec = failing[0]
            finding = next(iter(rec.get("findings") or ()), None)
            found = (rec, finding) if finding else None
            if found is None:
                out.append(
                    FailureEvidence(
                        req["id"], rec.get("nodeid", ""), _first_line(rec.get("message", "")), None
                    )
                )
                continue
        if found is None:
            continue
        rec, finding = found
        out.append(
            FailureEvidence(
                req["id"],
                rec.get("nodeid", ""),
                _first_line(finding.get("message", "")),
                build_reproduction(finding.get("exchange"), target, finding),
            )
        )
    return out
