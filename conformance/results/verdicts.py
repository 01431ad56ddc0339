"""Test records -> one verdict per requirement -> the run's verdict (README, "Verdicts and exit codes").

Plain data in, plain data out: the records are the dicts the suite writes into results.json.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from conformance.catalog import load_catalog
from conformance.model.exit_codes import VERDICT_EXIT_CODES
from conformance.model.verdict import RunVerdict, Verdict


class Gap(TypedDict):
    """A MUST requirement the run did not verify, and why (results.json ``summary.unverified``)."""

    id: str
    reason: str
    cause: str


class RequirementEntry(TypedDict):
    """One requirement's verdict as results.json records it (``requirements[]``)."""

    id: str
    group: str
    level: str
    profile: str
    spec: str
    summary: str
    position: str
    verdict: str
    tests: list[str]
    warnings: list[dict[str, Any]]
    unverified_reason: NotRequired[str]
    unverified_cause: NotRequired[str]


class Summary(TypedDict):
    """The run's verdict as results.json records it (``summary``), folded by :func:`overall`."""

    verdict: str
    exit_code: int
    counts: dict[str, dict[str, int]]
    must_not_passed: list[str]
    must_failed: list[str]
    unverified: list[Gap]
    accepted_unverified: list[Gap]
    interrupted: str | None
    cut_short: str | None
    partial: bool
    should_warnings: list[str]


# How each verdict is shown, in the console and in the report.
VERDICT_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "blocked": "BLOCKED",
    "skip": "SKIP",
    "untested": "UNTESTED",
    "not-judged": "NOT JUDGED",
    "not-run": "NOT RUN",
    "not-in-profile": "NOT IN PROFILE",
}
# Worst first: the verdict of a requirement is the worst any of its tests gave it. A requirement
# one of whose tests was skipped or not run is not verified, even when another of its tests passed.
# "not-judged": a test of it passed, but none of its checks applied to any answer it got (every
# answer was one its checks cannot judge, e.g. an error where an echo was to be compared).
VERDICT_ORDER = (
    Verdict.FAIL, Verdict.ERROR, Verdict.BLOCKED, Verdict.NOT_RUN, Verdict.SKIP, Verdict.NOT_JUDGED,
    Verdict.UNTESTED, Verdict.PASS, Verdict.NOT_IN_PROFILE,
)  # fmt: skip
# Requirement verdicts that mean "not verified by this run" (for a MUST: the run is INCOMPLETE).
UNVERIFIED = (Verdict.BLOCKED, Verdict.NOT_RUN, Verdict.SKIP, Verdict.NOT_JUDGED, Verdict.UNTESTED)
FAILED = (Verdict.FAIL, Verdict.ERROR)


def _named(rec: Mapping[str, Any]) -> set[str]:
    """Requirements a record's error findings name."""
    return {f["requirement"] for f in rec["findings"] if f.get("severity", "error") == "error"}


def _what_the_record_says(
    rec: Mapping[str, Any], rid: str, named: set[str]
) -> tuple[str, tuple[str, str] | None]:
    """One test record's verdict on one requirement it declares or names, and (reason, cause)
    when that verdict leaves the requirement unverified."""
    declared = rid in rec["requirements"]
    v = rec["verdict"]
    if v == Verdict.FAIL:
        if rid in named or not named:
            return Verdict.FAIL, None
        return Verdict.BLOCKED, (
            f"its test {rec['nodeid']} stopped at a failure of {', '.join(sorted(named))}",
            "blocked",
        )
    if v == Verdict.ERROR:
        return (Verdict.ERROR if declared else Verdict.FAIL), None
    if v == Verdict.PASS and rid in rec.get("not_judged", {}):
        return Verdict.NOT_JUDGED, (
            f"its test {rec['nodeid']} judged no answer ({rec['not_judged'][rid]})",
            "not-judged",
        )
    if v in (Verdict.SKIP, Verdict.NOT_RUN):
        message = (rec.get("message") or "").strip().splitlines()
        cause = rec.get("cause") or ("skipped" if v == Verdict.SKIP else "not-run")
        return v, (message[0] if message else "not run", cause)
    return v, None


def _unverified(verdict: str, reasons: dict[str, str]) -> tuple[str, str]:
    """(reason, cause) of an unverified requirement: the reasons of its own kind, in order."""
    if verdict == Verdict.UNTESTED:
        reasons = {"no suite test verifies it in this run": "untested"}
    elif verdict == Verdict.NOT_RUN and not reasons:
        reasons = {"not run by this partial run": "not-run"}
    own_cause = {
        Verdict.BLOCKED: ("blocked",),
        Verdict.SKIP: ("skipped",),
        Verdict.NOT_JUDGED: ("not-judged",),
    }
    wanted = own_cause.get(verdict)
    kept = {r: c for r, c in reasons.items() if wanted is None or c in wanted} or reasons
    return "; ".join(kept), next(iter(kept.values()))


def requirement_verdicts(
    records: Iterable[dict[str, Any]], profile: str, partial: bool = False
) -> list[RequirementEntry]:
    """Fold test records into one verdict per catalog requirement.

    A failing test fails the requirements its findings name (all it declares when the failure
    carries no findings); the others it declares were not verified by it ("blocked"). Records of
    tests that did not run (verdict "not-run": deselected, cut off by a signal, the request budget
    or the run deadline) and skipped tests leave their requirements unverified, and so does a test
    that passed with ``not_judged`` naming the requirement (none of its checks applied to any
    answer it got: verdict "not-judged", INCOMPLETE for a MUST); every unverified
    requirement carries ``unverified_reason`` (why, in words) and ``unverified_cause``.
    """
    # One pass over the records: what each says of each requirement it declares or names.
    said: dict[str, list[tuple[str, str, tuple[str, str] | None]]] = {}  # rid -> (test, verdict, why)
    warnings: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        named = _named(rec)
        for w in rec.get("warnings", []):
            warnings.setdefault(w["requirement"], []).append(w)
        for rid in dict.fromkeys([*rec["requirements"], *sorted(named)]):
            verdict, why = _what_the_record_says(rec, rid, named)
            said.setdefault(rid, []).append((rec["nodeid"], verdict, why))
    out = []
    for req in load_catalog().values():
        entries = said.get(req.id, [])
        verdicts = [v for _, v, _ in entries]
        reasons: dict[str, str] = {}
        for _, _, why in entries:
            if why is not None:
                reasons.setdefault(*why)
        if not req.in_profile(profile):
            verdict = Verdict.NOT_IN_PROFILE
        elif not verdicts:
            verdict = Verdict.NOT_RUN if partial else Verdict.UNTESTED
        else:
            verdict = min(verdicts, key=VERDICT_ORDER.index)
            if verdict == Verdict.PASS and warnings.get(req.id) and req.level == "SHOULD":
                verdict = Verdict.FAIL
        entry: RequirementEntry = {
            "id": req.id,
            "group": req.group,
            "level": req.level,
            "profile": req.profile,
            "spec": req.spec,
            "summary": req.summary,
            "position": req.position,
            "verdict": verdict,
            "tests": sorted({test for test, _, _ in entries}),
            "warnings": warnings.get(req.id, [])[:5],
        }
        if verdict in UNVERIFIED:
            entry["unverified_reason"], entry["unverified_cause"] = _unverified(verdict, reasons)
        out.append(entry)
    return out


def overall(
    requirements: Sequence[Mapping[str, Any]],
    preflight_error: str | None,
    *,
    accepted: Iterable[str] = (),
    interrupted: str | None = None,
    cut_short: str | None = None,
) -> Summary:
    """The run's verdict from its requirement verdicts.

    CONFORMANT only when every MUST of the profile ran and passed (or its gap is accepted by
    the user); a failed MUST is NOT CONFORMANT; a MUST not verified (and none failed) is
    INCOMPLETE; a signal makes the run INTERRUPTED whatever it saw so far.
    """
    accepted = set(accepted)
    counts: dict[str, dict[str, int]] = {"MUST": {}, "SHOULD": {}}
    for r in requirements:
        bucket = counts[r["level"]]
        bucket[r["verdict"]] = bucket.get(r["verdict"], 0) + 1
    must = [r for r in requirements if r["level"] == "MUST"]
    failed = [r["id"] for r in must if r["verdict"] in FAILED]
    gaps = [
        {
            "id": r["id"],
            "reason": r.get("unverified_reason") or VERDICT_LABELS[r["verdict"]].lower(),
            "cause": r.get("unverified_cause") or {Verdict.SKIP: "skipped"}.get(r["verdict"], r["verdict"]),
        }
        for r in must
        if r["verdict"] in UNVERIFIED
    ]
    unverified = [g for g in gaps if g["id"] not in accepted]
    accepted_gaps = [g for g in gaps if g["id"] in accepted]
    if interrupted:
        verdict = RunVerdict.INTERRUPTED
    elif preflight_error:
        verdict = RunVerdict.UNREACHABLE
    elif failed:
        verdict = RunVerdict.NOT_CONFORMANT
    elif unverified:
        verdict = RunVerdict.INCOMPLETE
    else:
        verdict = RunVerdict.CONFORMANT
    return {
        "verdict": verdict,
        "exit_code": VERDICT_EXIT_CODES[verdict],
        "counts": counts,
        "must_not_passed": failed + [g["id"] for g in unverified],
        "must_failed": failed,
        "unverified": unverified,
        "accepted_unverified": accepted_gaps,
        "interrupted": interrupted,
        "cut_short": cut_short,
        "partial": bool(interrupted or cut_short or any(g["cause"] == "deselected" for g in gaps)),
        "should_warnings": [
            r["id"] for r in requirements if r["level"] == "SHOULD" and r["verdict"] == Verdict.FAIL
        ],
    }


def unrun_records(
    records: Iterable[dict[str, Any]],
    collected: Mapping[str, list[str]],
    deselected: Mapping[str, list[str]],
    *,
    selection: str = "",
    interrupted: str | None = None,
) -> list[dict[str, Any]]:
    """Pseudo records for tests that never ran: deselected by -k/-m, or cut off by a signal.

    ``collected`` and ``deselected`` map node IDs to requirement IDs. The pseudo records count for
    the requirement verdicts (the requirement is not verified) but are not test records of
    results.json.
    """
    recorded = {r["nodeid"] for r in records}
    out = []
    for nodeid, ids in deselected.items():
        out.append(_unrun(nodeid, ids, f"deselected by {selection or 'the selection'}", "deselected"))
    for nodeid, ids in collected.items():
        if nodeid in recorded:
            continue
        if interrupted:
            reason, cause = (
                f"the run was interrupted by {interrupted} before this test finished",
                "interrupted",
            )
        else:
            reason, cause = "the run stopped before this test ran", Verdict.NOT_RUN
        out.append(_unrun(nodeid, ids, reason, cause))
    return out


def _unrun(nodeid: str, ids: list[str], reason: str, cause: str) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "requirements": ids,
        "verdict": Verdict.NOT_RUN,
        "message": reason,
        "cause": cause,
        "findings": [],
        "warnings": [],
    }
