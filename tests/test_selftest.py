"""``conformance selftest``: the judging rules, case selection, reports, and real matrix runs.

The CI matrix (``--subset``: the clean reference, every conformant variant, one fault per
requirement group) runs here; the full matrix runs under ``tox -e selftest`` (see the README).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import load_catalog
from conformance.commands.cli import build_parser
from conformance.commands.selftest import run_selection, start_order
from conformance.commands.selftest_cases import Case, CaseResult, all_cases, judge, select_cases, summarize
from conformance.reference.faults import FAULT_LIST, FAULTS
from conformance.reference.variants import VARIANT_LIST
from conformance.report.selftest import write_reports
from tests.suite_runs import conformance, conformance_argv, sigterm_once_claimed, verdicts
from tests.test_lifecycle_faults import IN_SELFTEST_SUBSET


def _results(verdicts: dict[str, str]) -> dict[str, Any]:
    catalog = load_catalog()
    reqs = [{"id": rid, "level": r.level, "verdict": verdicts.get(rid, "pass")} for rid, r in catalog.items()]
    return {"requirements": reqs, "summary": {"verdict": "X"}}


FAULT = Case("fault", "cached_one", "core", "RESPONSE", "", ("RESPONSE-CACHED-ZERO",))
SHOULD_FAULT = Case("fault", "nonce_replay_accepted", "core", "AUTH", "", ("AUTH-NONCE-REPLAY",))
VARIANT = Case("variant", "long_tokens", "core")


# -- judging ------------------------------------------------------------------------------------
def test_fault_detected_by_a_failing_must() -> None:
    r = judge(FAULT, 1, _results({"RESPONSE-CACHED-ZERO": "fail", "RESPONSE-ECHO": "blocked"}))
    assert r.ok and r.outcome == "detected"
    assert r.detected_by == ["RESPONSE-CACHED-ZERO", "RESPONSE-ECHO"] and r.blocked == ["RESPONSE-ECHO"]
    assert r.missing_expected == [] and r.unexpected == []


def test_fault_detected_elsewhere_is_info_not_failure() -> None:
    r = judge(FAULT, 1, _results({"TIME-VALID-UNTIL": "fail"}))
    assert r.ok and r.missing_expected == ["RESPONSE-CACHED-ZERO"] and r.unexpected == ["TIME-VALID-UNTIL"]


@pytest.mark.parametrize(
    ("code", "verdicts"),
    [(0, {}), (0, {"AUTH-NONCE-REPLAY": "fail"}), (1, {"AUTH-NONCE-REPLAY": "fail"})],
    ids=["all-pass", "only-a-should-warning", "exit-1-without-a-must"],
)
def test_fault_not_detected(code: int, verdicts: dict[str, str]) -> None:
    r = judge(FAULT, code, _results(verdicts))
    assert not r.ok and r.outcome == "UNDETECTED"


def test_should_only_fault_is_detected_by_its_warning() -> None:
    assert judge(SHOULD_FAULT, 0, _results({"AUTH-NONCE-REPLAY": "fail"})).ok
    assert not judge(SHOULD_FAULT, 0, _results({})).ok


@pytest.mark.parametrize(("code", "ok"), [(0, True), (1, False), (3, False)])
def test_variant_passes_only_with_exit_0(code: int, ok: bool) -> None:
    verdicts = {} if ok else {"RESPONSE-FIELDS": "fail"}
    assert judge(VARIANT, code, _results(verdicts)).ok is ok


def test_an_incomplete_variant_run_fails_naming_the_unverified_must() -> None:
    """A variant run that left a MUST unverified proves nothing about that latitude: FAIL."""
    results = _results({"AUTH-READ-DENIED": "skip"})
    results["requirements"][1]["unverified_reason"] = "no read-level credentials configured"
    r = judge(VARIANT, 4, results)
    assert not r.ok and r.outcome == "FAIL"
    assert "INCOMPLETE" in r.note and "AUTH-READ-DENIED (no read-level credentials configured)" in r.note
    accepted = judge(VARIANT, 0, results)  # exit 0 only because the gap was accepted: still not proven
    assert not accepted.ok


def test_a_selection_may_leave_requirements_out_but_nothing_else() -> None:
    results = _results({"AUTH-READ-DENIED": "not-run", "AUTH-ADMIN-GRANTED": "skip"})
    results["requirements"][1]["unverified_cause"] = "deselected"
    assert not judge(VARIANT, 4, results, selection=True).ok  # the skip is still a gap
    results["requirements"][3]["verdict"] = "pass"
    assert judge(VARIANT, 4, results, selection=True).ok
    assert not judge(VARIANT, 4, results).ok  # without -k a deselected MUST is a gap


@pytest.mark.parametrize(("code", "results"), [(2, None), (1, None), (2, {"requirements": []})])
def test_unusable_runs_are_errors(code: int, results: dict[str, Any] | None) -> None:
    for case in (FAULT, VARIANT):
        r = judge(case, code, results)
        assert not r.ok and r.outcome == "ERROR"


# -- selection ----------------------------------------------------------------------------------
def test_all_cases_and_profiles() -> None:
    cases = all_cases("full")
    assert [c.kind for c in cases].count("reference") == 1
    assert {c.name for c in cases if c.kind == "fault"} == {f.name for f in FAULT_LIST}
    assert {c.name for c in cases if c.kind == "variant"} == {v.name for v in VARIANT_LIST}
    assert all(c.profile == c.needs_profile for c in cases if c.kind == "fault")
    assert all(c.profile == "core" for c in all_cases("core"))


def test_subset_has_one_fault_per_group_and_every_variant() -> None:
    chosen = select_cases(all_cases("full"), subset=True)
    faults = [c for c in chosen if c.kind == "fault"]
    assert len({c.group for c in faults}) == len(faults) == len({f.group for f in FAULT_LIST})
    assert sum(c.kind == "variant" for c in chosen) == len(VARIANT_LIST)
    assert chosen[0].kind == "reference"


def test_profile_core_leaves_out_full_faults_unless_named() -> None:
    cases = all_cases("core")
    chosen = select_cases(cases, profile="core")
    assert all(c.needs_profile == "core" for c in chosen if c.kind == "fault")
    full = [f.name for f in FAULT_LIST if f.profile == "full"]
    if full:
        named = select_cases(cases, faults=[full[0]], profile="core")
        assert [(c.name, c.profile) for c in named] == [(full[0], "core")]


def test_naming_cases_restricts_and_unknown_names_are_refused() -> None:
    chosen = select_cases(all_cases("full"), faults=["cached_one"], variants=["long_tokens"])
    assert [(c.kind, c.name) for c in chosen] == [("variant", "long_tokens"), ("fault", "cached_one")]
    with pytest.raises(ValueError, match="unknown fault nope"):
        select_cases(all_cases("full"), faults=["nope"])


def test_the_matrix_starts_the_longest_runs_first_on_every_core() -> None:
    """Whole-suite runs before targeted faults, full profile before core, then table order: no
    worker ends the matrix alone on a long run."""
    cases = select_cases(all_cases("full"), subset=True)

    def ranked(order: list[int], targeted: bool) -> list[tuple[tuple[bool, bool], int]]:
        return [
            ((targeted and bool(cases[i].targeted_requirements()), cases[i].profile != "full"), i)
            for i in order
        ]

    order = ranked(start_order(cases), True)
    assert order == sorted(order) and len({rank for rank, _ in order}) == 4
    whole = ranked(start_order(cases, targeted=False), False)  # --whole-suite, -k: by profile only
    assert whole == sorted(whole) and len({rank for rank, _ in whole}) == 2
    assert build_parser().parse_args(["selftest"]).jobs == (os.cpu_count() or 1) + 1


def test_a_faults_run_is_the_tests_of_the_requirements_it_must_fail() -> None:
    """A fault's run selects its detected_by (--requirement); the reference and every variant run
    the whole suite; -k, --whole-suite, or a profile too low to detect the fault run everything."""
    args = build_parser().parse_args(["selftest"])
    by_name = {c.name: c for c in all_cases("full")}
    for fault in FAULT_LIST:
        assert run_selection(by_name[fault.name], args) == tuple(fault.detected_by)
    assert all(run_selection(c, args) == () for c in by_name.values() if c.kind != "fault")
    for flags in (["--whole-suite"], ["-k", "auth"]):
        assert run_selection(FAULT, build_parser().parse_args(["selftest", *flags])) == ()
    redeem = next(c for c in all_cases("core") if c.needs_profile == "full")
    assert run_selection(redeem, args) == ()


# -- reports ------------------------------------------------------------------------------------
def test_reports_are_json_and_autoescaped_html(tmp_path: Path) -> None:
    evil = Case("fault", "x", "core", "AUTH", "<script>alert(1)</script>", ("AUTH-READ-DENIED",))
    results = [
        CaseResult(evil, "UNDETECTED", False, 0, report_dir=str(tmp_path / "fault-x"), note="<b>n</b>"),
        CaseResult(VARIANT, "pass", True, 0),
    ]
    summary = summarize(results)
    assert summary["undetected_faults"] == ["x"] and not summary["ok"]
    meta = {
        "seed": 1,
        "duration_seconds": 1.0,
        "jobs": 1,
        "started_at": "t",
        "options": {
            "profile": "core",
            "settings": "polite",
            "max_examples": 3,
            "subset": False,
            "keyword": None,
            "whole_suite": False,
        },
    }
    json_path, html_path = write_reports([r.to_dict() for r in results], summary, meta, tmp_path)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["summary"]["faults_detected"] == 0 and data["cases"][0]["name"] == "x"
    page = html_path.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;n&lt;/b&gt;" in page and 'href="fault-x/results.json"' in page
    latitude = page.split('<h2 id="latitude">Latitude proven</h2>', 1)[1]
    assert "<code>long_tokens</code>" in latitude and ">proven<" in latitude


# -- real matrix runs ---------------------------------------------------------------------------
def _selftest(tmp_path: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return conformance("selftest", "--report-dir", str(tmp_path), "--seed", "7", *args, timeout=timeout)


def test_a_fault_no_test_detects_fails_selftest_with_its_name(tmp_path: Path) -> None:
    """cached=1 is only checked by test_success_carries_documented_fields; without it nothing catches it."""
    proc = _selftest(tmp_path, "--fault", "cached_one", "-k", "not success_carries", "--max-examples", "2")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "UNDETECTED fault: cached_one" in proc.stdout
    data = json.loads((tmp_path / "selftest.json").read_text(encoding="utf-8"))
    assert data["summary"]["undetected_faults"] == ["cached_one"]


def test_a_full_profile_fault_under_the_core_profile_fails_selftest(tmp_path: Path) -> None:
    name = next(f.name for f in FAULT_LIST if f.profile == "full")  # StopIteration: the table lost them
    proc = _selftest(tmp_path, "--profile", "core", "--fault", name, "--max-examples", "2")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"UNDETECTED fault: {name}" in proc.stdout and "needs --profile full" in proc.stdout


def test_a_run_past_its_timeout_is_an_error(tmp_path: Path) -> None:
    """The per-case timeout holds for a forked run: it is killed and the case is an ERROR."""
    proc = _selftest(tmp_path, "--variant", "long_tokens", "--timeout", "1")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    (case,) = json.loads((tmp_path / "selftest.json").read_text(encoding="utf-8"))["cases"]
    assert case["outcome"] == "ERROR" and case["note"] == "the run did not finish within 1s", case
    assert "FAILED conformant variant: long_tokens" in proc.stdout


def test_sigterm_stops_the_matrix_and_no_queued_case_starts(tmp_path: Path) -> None:
    """A CI cancel: the running case writes its interrupted reports, the cases queued behind it
    never start, and the command exits 130 without a matrix."""
    names = ("long_tokens", "floor_tokens", "other_messages")
    argv = conformance_argv("selftest", "--report-dir", str(tmp_path), "--seed", "7", "--jobs", "1")
    argv += [arg for name in names for arg in ("--variant", name)]
    proc = sigterm_once_claimed(argv, tmp_path / "variant-long_tokens" / ".conformance.lock", poll=0.05)
    assert proc.returncode == 130, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "interrupted (SIGTERM); no matrix written" in proc.stderr
    results = json.loads((tmp_path / "variant-long_tokens" / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["interrupted"] == "SIGTERM"
    assert [p.name for p in tmp_path.iterdir()] == ["variant-long_tokens"]


@pytest.mark.timeout(1800)
def test_ci_subset_detects_every_fault_and_passes_every_variant(tmp_path: Path) -> None:
    """The CI matrix: clean reference + every conformant variant + one fault per requirement group."""
    proc = _selftest(tmp_path, "--subset", timeout=1700)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "selftest.json").read_text(encoding="utf-8"))
    summary = data["summary"]
    assert summary["variants_passed"] == summary["variants_total"] == len(VARIANT_LIST)
    assert summary["faults_detected"] == summary["faults_total"] > 0 and summary["reference_passed"]
    # test_lifecycle_faults' cases this run covers: exactly the fault's requirements fail, exit 1.
    cases = {c["name"]: c for c in data["cases"] if c["kind"] == "fault"}
    assert IN_SELFTEST_SUBSET and set(IN_SELFTEST_SUBSET) <= set(cases)
    for name in IN_SELFTEST_SUBSET:
        got = verdicts(Path(cases[name]["report_dir"]))
        expected = FAULTS[name].detected_by
        assert {rid: got[rid] for rid in expected} == dict.fromkeys(expected, "fail"), (name, got)
        assert cases[name]["exit_code"] == 1, cases[name]
