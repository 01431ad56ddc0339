"""Every verdict state, from real runs against the reference server on loopback.

CONFORMANT only when every MUST of the profile ran and passed; INCOMPLETE (exit 4) when none failed
but some were not verified, each named with its reason in every report; accepted gaps (config or
command line) make it CONFORMANT again and are shown; a run cut short by the request budget is
INCOMPLETE naming the limit; SIGINT/SIGTERM make it INTERRUPTED (exit 130) with the reports
written and no temp file left behind. An intermittent 5xx is a finding, never a bare ERROR.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import load_catalog
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.results.verdicts import overall, requirement_verdicts
from tests.clean_run import CleanRun
from tests.hostile import Ctx, HostileServer, distinctive_credentials, run_conformance, secret_env
from tests.hostile import write_config as hostile_config
from tests.suite_runs import (
    conformance_argv,
    run_plain_pytest,
    run_suite,
    sigterm_once_claimed,
    write_config,
)

QUICK = ("--max-examples", "2", "--settings", "polite", "--seed", "11", "--quiet")
READ_GAP = "AUTH-READ-DENIED"


@pytest.fixture(scope="module")
def reference() -> ReferenceServer:
    with ReferenceServer(ReferenceSettings(clock_control=True)) as server:
        yield server


def _without_read(path: Path, server: ReferenceServer, **overrides: Any) -> Path:
    creds = server.target_config()["credentials"]
    return write_config(
        path, server, credentials={k: v for k, v in creds.items() if k != "read"}, **overrides
    )


def _results(report: Path) -> dict[str, Any]:
    return json.loads((report / "results.json").read_text(encoding="utf-8"))


def _junit_properties(report: Path) -> dict[str, str]:
    root = ET.parse(report / "junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


def _banner(report: Path) -> str:
    html = (report / "report.html").read_text(encoding="utf-8")
    return html.split('id="verdict"', 1)[1].split('<table id="counts">', 1)[0]


def _core_musts(results: dict[str, Any]) -> dict[str, str]:
    return {
        r["id"]: r["verdict"]
        for r in results["requirements"]
        if r["level"] == "MUST" and r["profile"] == "core"
    }


# ------------------------------------------------------------------ folding, without a server
def _record(nodeid: str, verdict: str, reqs: list[str], message: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "requirements": reqs,
        "verdict": verdict,
        "message": message,
        "findings": [],
        **extra,
    }


@pytest.mark.parametrize(
    ("records", "accepted", "interrupted", "verdict", "gaps"),
    [
        ([], (), None, "INCOMPLETE", {"untested"}),  # nothing ran: nothing certified
        ([_record("t1", "skip", [READ_GAP], "no read creds")], (), None, "INCOMPLETE", {READ_GAP}),
        ([_record("t1", "skip", [READ_GAP], "no read creds")], (READ_GAP,), None, "CONFORMANT", set()),
        (
            [_record("t1", "skip", [READ_GAP]), _record("t2", "fail", ["AUTH-WRITE-GRANTED"])],
            (),
            None,
            "NOT CONFORMANT",
            {READ_GAP},
        ),
        (
            [
                _record("t1", "pass", [READ_GAP]),
                _record("t2", "not-run", [READ_GAP], "deselected by -k 'x'", cause="deselected"),
            ],
            (),
            None,
            "INCOMPLETE",
            {READ_GAP},
        ),
        ([_record("t2", "fail", ["AUTH-WRITE-GRANTED"])], (), "SIGTERM", "INTERRUPTED", {READ_GAP}),
        (
            [
                _record("t1", "pass", [READ_GAP]),
                _record("t2", "pass", [READ_GAP], not_judged={READ_GAP: "check_error: no parsed answer"}),
            ],
            (),
            None,
            "INCOMPLETE",
            {READ_GAP},
        ),
        (
            [_record("t2", "pass", [READ_GAP], not_judged={READ_GAP: "check_error: no parsed answer"})],
            (READ_GAP,),
            None,
            "CONFORMANT",
            set(),
        ),
    ],
    ids=[
        "untested",
        "skipped-must",
        "accepted",
        "fail-wins",
        "pass-plus-deselected",
        "interrupted",
        "pass-plus-not-judged",
        "not-judged-accepted",
    ],
)
def test_verdict_folding(
    records: list[dict[str, Any]],
    accepted: tuple[str, ...],
    interrupted: str | None,
    verdict: str,
    gaps: set[str],
) -> None:
    """Pure folding rules: which runs are certified, and which MUSTs an INCOMPLETE verdict names."""
    catalog = load_catalog()
    musts = [rid for rid, r in catalog.items() if r.level == "MUST" and r.profile == "core"]
    passing = [_record("all", "pass", [m for m in musts if m != READ_GAP])] if "untested" not in gaps else []
    reqs = requirement_verdicts([*passing, *records], "core")
    summary = overall(reqs, None, accepted=accepted, interrupted=interrupted)
    assert summary["verdict"] == verdict
    named = {g["id"] for g in summary["unverified"]}
    if gaps == {"untested"}:
        assert named == set(musts)
    else:
        assert named == gaps
    assert (
        summary["exit_code"]
        == {"CONFORMANT": 0, "NOT CONFORMANT": 1, "INCOMPLETE": 4, "INTERRUPTED": 130}[verdict]
    )


def test_a_passing_test_that_judged_nothing_leaves_its_requirement_not_judged() -> None:
    """A test that passed without any check applying to its answers verified nothing: the requirement
    is "not-judged" (worse than another test's pass), the run INCOMPLETE naming the test and the
    checks' reasons; a requirement the record does not name as not judged keeps its pass."""
    catalog = load_catalog()
    musts = [rid for rid, r in catalog.items() if r.level == "MUST" and r.profile == "core"]
    echo, fields = "RESPONSE-ECHO", "RESPONSE-FIELDS"
    records = [
        _record("all", "pass", musts),
        _record("t_long", "pass", [echo, fields], not_judged={echo: "check_echo: not a success"}),
    ]
    reqs = {r["id"]: r for r in requirement_verdicts(records, "core")}
    assert reqs[echo]["verdict"] == "not-judged" and reqs[fields]["verdict"] == "pass"
    assert reqs[echo]["unverified_cause"] == "not-judged"
    assert reqs[echo]["unverified_reason"] == "its test t_long judged no answer (check_echo: not a success)"
    summary = overall(list(reqs.values()), None)
    assert summary["verdict"] == "INCOMPLETE" and summary["must_failed"] == []
    assert summary["unverified"] == [
        {"id": echo, "reason": reqs[echo]["unverified_reason"], "cause": "not-judged"}
    ]


def test_a_skipped_should_and_requirements_outside_the_profile_are_not_gaps() -> None:
    catalog = load_catalog()
    core_musts = [rid for rid, r in catalog.items() if r.level == "MUST" and r.profile == "core"]
    should = next(rid for rid, r in catalog.items() if r.level == "SHOULD" and r.profile == "core")
    reqs = requirement_verdicts(
        [_record("a", "pass", core_musts), _record("b", "skip", [should], "no such hook")], "core"
    )
    summary = overall(reqs, None)
    assert summary["verdict"] == "CONFORMANT" and summary["unverified"] == []


# ------------------------------------------------------------------ real runs
def test_all_credentials_is_conformant_with_every_must_verified(clean_run: CleanRun) -> None:
    """The embedded reference's config has every level's credentials (the shared clean run)."""
    proc = clean_run.proc
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = _results(clean_run.report)
    assert results["summary"]["verdict"] == "CONFORMANT" and results["summary"]["unverified"] == []
    assert set(_core_musts(results).values()) == {"pass"}
    assert _junit_properties(clean_run.report)["conformance.verdict"] == "CONFORMANT"


def test_missing_read_credentials_is_incomplete_naming_the_gap_everywhere(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    cfg = _without_read(tmp_path / "t.toml", reference)
    report = tmp_path / "r"
    proc = run_suite("--config", str(cfg), "--report-dir", str(report), *QUICK)
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    reason = "no read-level credentials configured ([credentials.read])"
    assert "verdict: INCOMPLETE" in proc.stdout and f"{READ_GAP}: {reason}" in proc.stdout
    summary = _results(report)["summary"]
    assert summary["verdict"] == "INCOMPLETE" and summary["must_failed"] == []
    assert summary["unverified"] == [{"id": READ_GAP, "reason": reason, "cause": "skipped"}]
    assert _junit_properties(report)[f"conformance.unverified.{READ_GAP}"] == reason
    banner = _banner(report)
    assert "INCOMPLETE" in banner and f'href="#req-{READ_GAP}"' in banner and reason in banner


NOT_JUDGED_TEST = """
from conformance import checks
from conformance.suite.api import requirement


@requirement("RESPONSE-ECHO")
def test_echo_judged_only_on_errors(api):
    req = api.request(return_url="https://example.com/cb?a=1").but(auth=None)  # refused: unsigned
    obs = api.call(req)
    api.expect(checks.check_api_response(obs, "xml"), checks.check_echo(obs, req))
"""


def test_a_test_that_judged_no_answer_leaves_its_requirement_not_judged_in_every_report(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    """A real test whose only answers are ones its check cannot judge (an error, where the echo is
    judged on a success) passes under pytest, but its requirement is NOT JUDGED with the reason in
    results.json, JUnit and the HTML report; the run is INCOMPLETE, never CONFORMANT."""
    (tmp_path / "test_probe.py").write_text(NOT_JUDGED_TEST, encoding="utf-8")
    report = tmp_path / "r"
    report.mkdir()
    cfg = write_config(tmp_path / "t.toml", reference)
    probe = str(tmp_path / "test_probe.py")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "conformance.suite.plugin",
        probe,
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    argv += ["--target-config", str(cfg), "--conformance-report-dir", str(report)]
    argv += ["--junitxml", str(report / "junit.xml")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=report)
    results = _results(report)
    echo = next(r for r in results["requirements"] if r["id"] == "RESPONSE-ECHO")
    reason = "its test test_probe.py::test_echo_judged_only_on_errors judged no answer"
    reason += " (check_echo: not a success)"
    assert echo["verdict"] == "not-judged" and echo["unverified_reason"] == reason, proc.stdout[-2000:]
    record = next(t for t in results["tests"] if t["name"] == "test_echo_judged_only_on_errors")
    assert record["verdict"] == "pass"
    assert record["not_judged"] == {"RESPONSE-ECHO": "check_echo: not a success"}
    summary = results["summary"]
    assert summary["verdict"] == "INCOMPLETE"
    assert {"id": "RESPONSE-ECHO", "reason": reason, "cause": "not-judged"} in summary["unverified"]
    assert _junit_properties(report)["conformance.unverified.RESPONSE-ECHO"] == reason
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "NOT JUDGED" in html and "judged no answer" in html


@pytest.mark.parametrize("how", ["config", "command line"])
def test_an_accepted_gap_is_conformant_and_shown_in_every_report(
    tmp_path: Path, reference: ReferenceServer, how: str
) -> None:
    report = tmp_path / "r"
    if how == "config":
        cfg = _without_read(tmp_path / "t.toml", reference, verdict={"accept_unverified": [READ_GAP]})
        proc = run_suite("--config", str(cfg), "--report-dir", str(report), *QUICK)
    else:
        cfg = _without_read(tmp_path / "t.toml", reference)
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(report), "--accept-unverified", READ_GAP, *QUICK
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verdict: CONFORMANT" in proc.stdout and "accepted as unverified" in proc.stdout
    results = _results(report)
    assert results["summary"]["unverified"] == [] and results["run"]["accept_unverified"] == [READ_GAP]
    assert [g["id"] for g in results["summary"]["accepted_unverified"]] == [READ_GAP]
    assert f"conformance.accepted_unverified.{READ_GAP}" in _junit_properties(report)
    banner = _banner(report)
    accepted = banner.split('id="accepted-unverified"', 1)[1]
    assert "CONFORMANT" in banner and READ_GAP in accepted and "credentials.read" in accepted


def test_an_unknown_accepted_id_is_a_usage_error_before_any_request(tmp_path: Path) -> None:
    creds = distinctive_credentials("u")
    with HostileServer(Ctx.forward, upstream=True, credentials=creds) as hs:
        cfg = hostile_config(tmp_path / "t.toml", hs.base_url, creds)
        proc = run_suite(
            "--config",
            str(cfg),
            "--report-dir",
            str(tmp_path / "r"),
            "--accept-unverified",
            "AUTH-READ-DENIE",
            *QUICK,
            env=secret_env(creds),
        )
        sent = hs.count
    assert proc.returncode == 2 and sent == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "AUTH-READ-DENIE" in proc.stderr and "did you mean 'AUTH-READ-DENIED'" in proc.stderr


def test_plain_pytest_is_incomplete_without_and_conformant_with_the_accept_option(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    cfg = _without_read(tmp_path / "t.toml", reference)
    runs = {}
    for name, extra in (("gap", ()), ("accepted", ("--accept-unverified", READ_GAP))):
        (tmp_path / name).mkdir()
        proc = run_plain_pytest(
            cfg,
            tmp_path / name,
            "--conformance-max-examples",
            "2",
            "--conformance-settings",
            "polite",
            *extra,
        )
        runs[name] = (proc.returncode, _results(tmp_path / name)["summary"]["verdict"], proc)
    assert runs["gap"][:2] == (4, "INCOMPLETE"), runs["gap"][2].stdout[-3000:]
    assert runs["accepted"][:2] == (0, "CONFORMANT"), runs["accepted"][2].stdout[-3000:]


def test_an_exhausted_request_budget_is_incomplete_naming_it(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    """Tests stopped by the suite's own budget are unverified, never failures of the target."""
    cfg = write_config(tmp_path / "t.toml", reference)
    report = tmp_path / "r"
    proc = run_suite("--config", str(cfg), "--report-dir", str(report), "--request-budget", "40", *QUICK)
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "not verified: request budget of 40 requests exhausted" in proc.stdout
    results = _results(report)
    summary = results["summary"]
    assert summary["verdict"] == "INCOMPLETE" and "request budget of 40" in summary["cut_short"]
    assert summary["must_failed"] == [] and results["run"]["partial"] is True
    assert {g["cause"] for g in summary["unverified"]} == {"budget"}
    assert not {"fail", "error"} & set(_core_musts(results).values())
    skipped = [
        c
        for c in ET.parse(report / "junit.xml").getroot().iter("skipped")
        if "request budget" in c.get("message", "")
    ]
    assert skipped and "request budget" in _junit_properties(report)["conformance.cut_short"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_is_interrupted_with_reports_and_no_temp_files(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A CI cancel: exit 130, INTERRUPTED, reports written, the embedded server's secret DB removed."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    report = tmp_path / "r"
    proc = subprocess.Popen(
        conformance_argv("run", "--report-dir", str(report), "--seed", "3", "--max-examples", "60", "-v"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(private_tmp)},
    )
    killer = threading.Timer(300, proc.kill)  # a hung run must not hang the test session
    killer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the suite is really running tests: one has passed (-v
            if " PASSED" in line:  # shows each test as it ends; a group's line comes tens of seconds later)
                break
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
    finally:
        killer.cancel()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert f"run interrupted by {sig.name}" in out and "verdict: INTERRUPTED" in out
    results = _results(report)
    summary = results["summary"]
    assert summary["verdict"] == "INTERRUPTED" and summary["interrupted"] == sig.name
    assert results["run"]["partial"] is True and summary["must_failed"] == []
    assert summary["unverified"] and all(g["cause"] == "interrupted" for g in summary["unverified"])
    banner = _banner(report)
    assert "INTERRUPTED" in banner and f"Interrupted by {sig.name}" in banner
    assert (report / "junit.xml").is_file()
    assert list(private_tmp.iterdir()) == []  # no reference DB (live secrets), no Hypothesis dir


def test_a_signal_as_the_report_dir_is_claimed_still_leaves_reports(tmp_path: Path) -> None:
    """SIGTERM the moment the run's lock file appears (the run has its report directory but has not
    started): held until the run can report it, then exit 130 with INTERRUPTED reports."""
    report = tmp_path / "r"
    lock = report / ".conformance.lock"
    proc = sigterm_once_claimed(conformance_argv("run", "--report-dir", str(report), "--seed", "3"), lock)
    assert proc.returncode == 130, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = _results(report)
    assert results["summary"]["verdict"] == "INTERRUPTED" and results["summary"]["interrupted"] == "SIGTERM"
    assert (report / "junit.xml").is_file() and not lock.exists()


def test_intermittent_server_errors_are_findings_with_their_exchange(tmp_path: Path) -> None:
    """1 in 20 API answers is an HTTP 500: failures naming the requirement under test, never Flaky ERRORs."""
    creds = distinctive_credentials("5")
    counter = itertools.count(1)
    lock = threading.Lock()

    def flaky(ctx: Ctx) -> None:
        with lock:
            n = next(counter)
        if ctx.req.target.startswith("/api/") and n % 20 == 0:
            ctx.respond(
                b"<html><body>Internal Server Error</body></html>",
                status=500,
                headers=[("Content-Type", "text/html")],
            )
        else:
            ctx.forward()

    with HostileServer(flaky, upstream=True, credentials=creds) as hs:
        cfg = hostile_config(tmp_path / "t.toml", hs.base_url, creds)
        out = run_conformance(
            tmp_path,
            cfg,
            "--max-examples",
            "6",
            "--settings",
            "polite",
            "-k",
            "unicode or agree or valid_until or out_of_range or any_input",
            env=secret_env(creds),
            hard_timeout=240,
        )
    assert out.code == 1, out.stdout[-3000:] + out.stderr[-3000:]
    tests = out.tests()
    assert not [t["nodeid"] for t in tests if t["verdict"] == "error"], [t["message"][:300] for t in tests]
    failed = out.tests("fail")
    assert failed
    for t in failed:
        statuses = {(f.get("exchange") or {}).get("response", {}).get("status") for f in t["findings"]}
        assert 500 in statuses, t["findings"]
        assert any(f["requirement"] in t["requirements"] for f in t["findings"])
    written = (out.report_dir / "results.json").read_text() + (out.report_dir / "report.html").read_text()
    assert " object at 0x" not in written and "FlakyFailure" not in written
