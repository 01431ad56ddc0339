"""The suite's verdict follows the target: conformant reference passes, deliberate mismatches fail."""

import json
from pathlib import Path

import pytest

from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.suite.budget import BUDGETS
from tests.clean_run import SEED, CleanRun
from tests.suite_runs import FAST, run_plain_pytest, run_suite, verdicts, write_config


@pytest.fixture(scope="module")
def reference() -> ReferenceServer:
    with ReferenceServer(ReferenceSettings(clock_control=True)) as server:
        yield server


def test_embedded_reference_is_conformant(clean_run: CleanRun) -> None:
    """The README's main command: no config, embedded reference, exit 0, every MUST passes."""
    proc = clean_run.proc
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verdict: CONFORMANT" in proc.stdout
    assert f"seed {SEED}" in proc.stdout
    results = clean_run.results()
    must = [r for r in results["requirements"] if r["level"] == "MUST" and r["profile"] == "core"]
    assert must and all(r["verdict"] == "pass" for r in must), [(r["id"], r["verdict"]) for r in must]
    assert (clean_run.report / "junit.xml").is_file()


@pytest.mark.parametrize(
    ("server_policy", "declared", "expected"),
    [
        ("reject", "clamp", "fail"),
        ("clamp", "reject", "fail"),
        ("reject", "reject", "pass"),
        ("clamp", "either", "pass"),
    ],
)
def test_bounds_policy_mismatch_changes_the_verdict(
    tmp_path: Path, server_policy: str, declared: str, expected: str
) -> None:
    with ReferenceServer(ReferenceSettings(bounds_policy=server_policy)) as server:
        cfg = write_config(tmp_path / "t.toml", server, bounds_policy=declared)
        proc = run_suite("--config", str(cfg), "--report-dir", str(tmp_path), "-k", "out_of_range", *FAST)
    results = json.loads((tmp_path / "results.json").read_text())
    (test,) = [t for t in results["tests"] if "out_of_range_follows_declared_policy" in t["nodeid"]]
    assert test["verdict"] == expected, proc.stdout[-3000:]
    # A failure fails the requirement; a pass under -k verifies it only in part (its other tests
    # were deselected), and the run is INCOMPLETE: -k leaves the other MUSTs unverified.
    assert verdicts(tmp_path)["PARAMS-OUT-OF-RANGE"] == ("fail" if expected == "fail" else "not-run")
    assert proc.returncode == (1 if expected == "fail" else 4)


def test_read_credentials_declared_as_write_fail_write_requirement(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    """Credentials of the wrong level: the target (correctly) refuses them, so the verdict flips."""
    creds = reference.target_config()["credentials"]
    cfg = write_config(tmp_path / "t.toml", reference, credentials={"write": creds["read"]})
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path), "-k", "write_level or header", *FAST
    )
    v = verdicts(tmp_path)
    assert v["AUTH-WRITE-GRANTED"] == "fail"
    assert v["AUTH-PLACEMENT-HEADER"] == "fail"
    assert proc.returncode == 1
    assert "permission_denied" in proc.stdout + (tmp_path / "results.json").read_text()


def test_optional_credentials_missing_are_skipped_with_reason(
    tmp_path: Path, reference: ReferenceServer
) -> None:
    creds = reference.target_config()["credentials"]
    cfg = write_config(tmp_path / "t.toml", reference, credentials={"write": creds["write"]})
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path), "-k", "read_level or admin_level", *FAST
    )
    assert proc.returncode == 4, proc.stdout[-2000:]  # INCOMPLETE: never certified without them
    results = json.loads((tmp_path / "results.json").read_text())
    skipped = [t for t in results["tests"] if t["verdict"] == "skip"]
    assert skipped and all("credentials" in t["message"] for t in skipped)
    assert verdicts(tmp_path)["AUTH-READ-DENIED"] == "skip"
    gaps = {g["id"]: g for g in results["summary"]["unverified"]}
    reason = "no admin-level credentials configured ([credentials.admin])"
    assert gaps["AUTH-ADMIN-GRANTED"]["reason"] == reason


def test_same_seed_reproduces_the_same_draws(tmp_path: Path, reference: ReferenceServer) -> None:
    """Two runs with one seed send the same Hypothesis-drawn requests (same count per test)."""
    cfg = write_config(tmp_path / "t.toml", reference)
    counts = []
    for i in range(2):
        out = tmp_path / str(i)
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(out), "--seed", "1234", "-k", "unicode or agree", *FAST
        )
        assert proc.returncode in (0, 4), proc.stdout[-3000:] + proc.stderr[-2000:]
        results = json.loads((out / "results.json").read_text())
        counts.append({t["nodeid"]: t["requests"] for t in results["tests"]})
    assert counts[0] == counts[1] and sum(counts[0].values()) > 0


def test_plain_pytest_with_the_plugin(tmp_path: Path, reference: ReferenceServer) -> None:
    """The suite drops into any CI as plain pytest with the plugin's options."""
    cfg = write_config(tmp_path / "t.toml", reference)
    proc = run_plain_pytest(
        cfg,
        tmp_path,
        "--conformance-seed",
        "3",
        "--conformance-max-examples",
        "3",
        "-k",
        "oauth_in or default",
    )
    # A -k selection certifies nothing beyond itself: INCOMPLETE, exit 4, as `conformance run` does.
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert verdicts(tmp_path)["AUTH-PLACEMENT-QUERY"] == "pass"
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["verdict"] == "INCOMPLETE" and summary["must_failed"] == []
    assert {g["cause"] for g in summary["unverified"]} == {"deselected"}


def test_include_slow_extends_the_run_deadline(tmp_path: Path, reference: ReferenceServer) -> None:
    """The real-time expiry wait must fit: --include-slow adds 20 minutes unless --deadline is given."""
    cfg = write_config(tmp_path / "t.toml", reference)
    run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path), "--include-slow", "-k", "oauth_in_get", *FAST
    )
    run = json.loads((tmp_path / "results.json").read_text())["run"]
    assert run["run_deadline_seconds"] == 900 + 20 * 60


def test_an_empty_selection_is_a_usage_error(tmp_path: Path, reference: ReferenceServer) -> None:
    cfg = write_config(tmp_path / "t.toml", reference)
    proc = run_suite("--config", str(cfg), "--report-dir", str(tmp_path), "-k", "no_such_test_x", *FAST)
    assert proc.returncode == 2
    assert "no suite test matches -k 'no_such_test_x'" in proc.stderr


POLITE = BUDGETS["polite"]


@pytest.mark.parametrize(
    ("faults", "requests"),
    [((), POLITE.token_sample), (("token_short",), POLITE.token_confirm_sample)],
)
def test_a_polite_token_sample_fails_only_once_confirmed_on_a_full_one(
    tmp_path: Path, faults: tuple[str, ...], requests: int
) -> None:
    """Polite fetches 16 tokens; one that looks predictable is topped up to 64 before it fails
    (16 tokens can underestimate an exactly-64-bit token), and a clean sample costs nothing more."""
    with ReferenceServer(ReferenceSettings(faults=frozenset(faults))) as server:
        cfg = write_config(tmp_path / "t.toml", server)
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(tmp_path), "-k", "unique_and_unpredictable", *FAST
        )
    results = json.loads((tmp_path / "results.json").read_text())
    (test,) = [t for t in results["tests"] if "unique_and_unpredictable" in t["nodeid"]]
    assert test["requests"] == requests, test
    if faults:
        assert proc.returncode == 1 and verdicts(tmp_path)["TOKEN-UNPREDICTABLE"] == "fail"
        confirmed = f"from {POLITE.token_confirm_sample} tokens"
        assert any(confirmed in f["message"] for f in test["findings"]), test["findings"]
    else:  # INCOMPLETE: -k leaves the other requirements unverified
        assert proc.returncode == 4 and verdicts(tmp_path)["TOKEN-UNPREDICTABLE"] == "pass"
