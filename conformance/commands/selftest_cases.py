"""The cases of ``conformance selftest`` and how each is judged: plain data and pure functions.

A case is one suite run (the clean reference, a conformant variant, or a fault injected); its
outcome is decided from the run's exit code and results.json alone (:func:`judge`), so the rules
are testable without a run. ``conformance matrix --demo`` shows the same cases side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from conformance.catalog import load_catalog
from conformance.model.exit_codes import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, EXIT_UNREACHABLE
from conformance.reference.faults import FAULT_LIST
from conformance.reference.server import ReferenceSettings
from conformance.reference.variants import VARIANT_LIST

NOT_PASSING = ("fail", "error", "blocked")
UNVERIFIED = ("blocked", "skip", "not-run", "not-judged", "untested")
RUN_EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_INCOMPLETE)
DETECTING_EXIT_CODES = (EXIT_FAILED, EXIT_UNREACHABLE)  # NOT CONFORMANT, UNREACHABLE
Kind = Literal["reference", "variant", "fault"]


@dataclass(frozen=True)
class Case:
    """One suite run: the clean reference, a variant or a fault, with the profile it runs under."""

    kind: Kind
    name: str
    profile: str
    group: str = ""
    description: str = ""
    expected: tuple[str, ...] = ()  # a fault's detected_by from the table
    needs_profile: str = "core"

    def targeted_requirements(self) -> tuple[str, ...]:
        """The requirements a fault's run is limited to: those the fault table expects it to fail.

        Detecting a fault takes the tests of those requirements, not the whole suite (a run of
        them costs a tenth of a whole run). Empty, so the whole suite, for the reference and the
        variants (each must verify every MUST) and for a fault whose profile the run does not
        reach (its whole run shows the fault is missed, and why).
        """
        if self.kind != "fault" or (self.needs_profile == "full" and self.profile != "full"):
            return ()
        return self.expected

    def server_settings(self, db_path: str | None = None) -> ReferenceSettings:
        """The embedded reference this case runs against: clean, a variant, or a fault injected
        (its database at ``db_path``, else a temporary file)."""
        return ReferenceSettings(
            db_path=db_path,
            clock_control=True,
            faults=frozenset([self.name]) if self.kind == "fault" else frozenset(),
            variant=self.name if self.kind == "variant" else None,
        )


@dataclass
class CaseResult:
    case: Case
    outcome: str  # pass | FAIL (reference/variant); detected | UNDETECTED (fault); ERROR
    ok: bool
    exit_code: int | None
    verdict: str = ""
    detected_by: list[str] = field(default_factory=list)  # requirements failed, errored or blocked
    blocked: list[str] = field(default_factory=list)  # of those, only blocked by another's failure
    warnings: list[str] = field(default_factory=list)  # SHOULD requirements that failed
    missing_expected: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report_dir: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("case"))
        data["expected"] = list(self.case.expected)
        return data


# ------------------------------------------------------------------ selecting the cases
def all_cases(profile: str) -> list[Case]:
    """Every case, in table order: the clean reference, the variants, then the faults."""
    cases = [Case("reference", "reference", profile, description="the clean reference server")]
    cases += [
        Case(
            "variant",
            v.name,
            _run_profile(v.profile, profile),
            description=v.description,
            needs_profile=v.profile,
        )
        for v in VARIANT_LIST
    ]
    cases += [
        Case(
            "fault",
            f.name,
            _run_profile(f.profile, profile),
            f.group,
            f.description,
            tuple(f.detected_by),
            f.profile,
        )
        for f in FAULT_LIST
    ]
    return cases


def _run_profile(needed: str, allowed: str) -> str:
    """A case runs with the profile it needs, unless the user capped the profile at core."""
    return "full" if needed == "full" and allowed == "full" else "core"


def select_cases(
    cases: list[Case],
    *,
    faults: Iterable[str] = (),
    variants: Iterable[str] = (),
    subset: bool = False,
    profile: str = "full",
) -> list[Case]:
    """Apply --fault/--variant/--subset/--profile; raises ValueError for an unknown name.

    Naming faults or variants restricts the run to exactly those (no clean reference). Without
    names, ``--profile core`` leaves out faults that only the full profile can detect, and
    ``--subset`` keeps one fault per requirement group plus every variant and the reference.
    """
    faults, variants = list(faults), list(variants)
    by_kind = {(c.kind, c.name): c for c in cases}
    unknown = [f"fault {n}" for n in faults if ("fault", n) not in by_kind]
    unknown += [f"variant {n}" for n in variants if ("variant", n) not in by_kind]
    if unknown:
        raise ValueError(f"unknown {', '.join(unknown)} (see 'conformance serve --list')")
    if faults or variants:
        return [by_kind[("variant", n)] for n in dict.fromkeys(variants)] + [
            by_kind[("fault", n)] for n in dict.fromkeys(faults)
        ]
    chosen = [c for c in cases if not (c.kind == "fault" and c.needs_profile == "full" and profile == "core")]
    if subset:
        chosen = representative_subset(chosen)
    return chosen


def representative_subset(cases: list[Case]) -> list[Case]:
    """The reference, every variant, and the first fault of each requirement group (table order)."""
    seen: set[str] = set()
    out = []
    for case in cases:
        if case.kind == "fault":
            if case.group in seen:
                continue
            seen.add(case.group)
        out.append(case)
    return out


@dataclass(frozen=True)
class _Seen:
    """What a case's run showed, read once from its results.json."""

    verdict: str
    must_bad: list[str]  # MUST requirements failed, errored, blocked or not judged
    should_bad: list[str]
    blocked: list[str]
    requirements: list[dict[str, Any]]

    @classmethod
    def read(cls, results: dict[str, Any]) -> _Seen:
        reqs = results.get("requirements", [])
        return cls(
            verdict=str(results.get("summary", {}).get("verdict", "")),
            must_bad=[r["id"] for r in reqs if r["level"] == "MUST" and r["verdict"] in NOT_PASSING],
            should_bad=[r["id"] for r in reqs if r["level"] == "SHOULD" and r["verdict"] in NOT_PASSING],
            blocked=[r["id"] for r in reqs if r["verdict"] == "blocked"],
            requirements=reqs,
        )


def judge(
    case: Case, exit_code: int, results: dict[str, Any] | None, *, selection: bool = False
) -> CaseResult:
    """Decide pass/detected from the run's exit code and its results.json (one regime per kind)."""
    if results is None or exit_code not in RUN_EXIT_CODES:
        return CaseResult(
            case, "ERROR", False, exit_code, note=f"run exited {exit_code} without usable results"
        )
    seen = _Seen.read(results)
    if case.kind == "fault":
        return _judge_fault(case, exit_code, seen)
    return _judge_conformant(case, exit_code, seen, selection)


def _judge_conformant(case: Case, exit_code: int, seen: _Seen, selection: bool) -> CaseResult:
    """The clean reference and a variant pass only when the run is CONFORMANT with every MUST of
    its profile verified: nothing skipped, cut short or accepted as a gap. With ``selection``
    (selftest -k) requirements left out by the selection are the only gaps allowed."""
    gaps = [
        f"{r['id']} ({r.get('unverified_reason') or r['verdict']})"
        for r in seen.requirements
        if r["level"] == "MUST"
        and r["verdict"] in UNVERIFIED
        and not (selection and r.get("unverified_cause") == "deselected")
    ]
    verified = not gaps and not seen.must_bad
    ok = verified and (exit_code == EXIT_OK or (selection and exit_code == EXIT_INCOMPLETE))
    note = (
        "INCOMPLETE, the harness left MUSTs unverified: " + "; ".join(gaps)[:600]
        if gaps and not seen.must_bad
        else ""
    )
    return CaseResult(
        case,
        "pass" if ok else "FAIL",
        ok,
        exit_code,
        verdict=seen.verdict,
        detected_by=seen.must_bad + seen.should_bad,
        blocked=seen.blocked,
        warnings=seen.should_bad,
        note=note,
    )


def _judge_fault(case: Case, exit_code: int, seen: _Seen) -> CaseResult:
    """A fault is detected when a MUST failed and the run said so (exit 1 or 3). A fault whose
    expected requirements are all SHOULD counts as detected when one of them warns."""
    catalog = load_catalog()
    should_only = bool(case.expected) and all(
        rid in catalog and catalog[rid].level == "SHOULD" for rid in case.expected
    )
    must_detected = exit_code in DETECTING_EXIT_CODES and bool(seen.must_bad)
    ok = (
        any(rid in seen.should_bad for rid in case.expected) or must_detected
        if should_only
        else must_detected
    )
    detected_by = seen.must_bad + seen.should_bad
    return CaseResult(
        case,
        "detected" if ok else "UNDETECTED",
        ok,
        exit_code,
        verdict=seen.verdict,
        detected_by=detected_by,
        blocked=seen.blocked,
        warnings=seen.should_bad,
        missing_expected=[rid for rid in case.expected if rid not in detected_by],
        unexpected=[rid for rid in detected_by if rid not in case.expected and rid not in seen.blocked],
        note="needs --profile full"
        if not ok and case.needs_profile == "full" and case.profile != "full"
        else "",
    )


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    faults = [r for r in results if r.case.kind == "fault"]
    variants = [r for r in results if r.case.kind == "variant"]
    reference = [r for r in results if r.case.kind == "reference"]
    return {
        "ok": all(r.ok for r in results),
        "faults_total": len(faults),
        "faults_detected": sum(r.ok for r in faults),
        "variants_total": len(variants),
        "variants_passed": sum(r.ok for r in variants),
        "reference_passed": all(r.ok for r in reference) if reference else None,
        "undetected_faults": [r.case.name for r in faults if not r.ok],
        "failed_variants": [r.case.name for r in variants if not r.ok],
        "detection_mismatches": [
            r.case.name for r in faults if r.ok and (r.missing_expected or r.unexpected)
        ],
    }
