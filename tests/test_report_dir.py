"""A report directory holds one run's files: no earlier certificate beside them, no second run at once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from tests.certificates import Certified, conformance

ONE_REQUIREMENT = ("--requirement", "AUTH-UNSIGNED-DENIED", "--quiet", "--max-examples", "1")


def _lock(report: Path, pid: int) -> Path:
    report.mkdir(parents=True, exist_ok=True)
    lock = report / ".conformance.lock"
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": time.time()}))
    return lock


def test_a_failing_run_removes_the_earlier_certificate_and_badge(
    certified: Certified, tmp_path: Path
) -> None:
    report = tmp_path / "reports"
    report.mkdir()
    shutil.copy(certified.bundle, report / "certificate.zip")
    shutil.copy(certified.bundle.parent / "badge.svg", report / "badge.svg")
    faulted = ReferenceSettings(faults=frozenset(["unsigned_gets_token"]))
    with ReferenceServer(faulted) as server:
        config = tmp_path / "t.toml"
        write_target_config(server, config)
        proc = conformance("run", "--config", str(config), "--report-dir", str(report), *ONE_REQUIREMENT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"removed the earlier certificate.zip, badge.svg from {report}" in proc.stdout
    assert not (report / "certificate.zip").exists() and not (report / "badge.svg").exists()
    assert json.loads((report / "results.json").read_text())["summary"]["verdict"] == "NOT CONFORMANT"
    assert not (report / ".conformance.lock").exists()  # released at the end


def test_a_second_run_into_a_directory_in_use_is_refused(certified: Certified, tmp_path: Path) -> None:
    report = tmp_path / "reports"
    lock = _lock(report, os.getpid())  # this test process is alive: the directory is in use
    proc = conformance(
        "run", "--config", str(certified.config), "--report-dir", str(report), *ONE_REQUIREMENT
    )
    assert proc.returncode == 2
    assert f"--report-dir {report} is in use by another conformance run (pid {os.getpid()}" in proc.stderr
    assert not (report / "results.json").exists() and lock.exists()  # the other run's lock is untouched


def test_a_lock_left_by_a_dead_run_is_taken_over(certified: Certified, tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    report = tmp_path / "reports"
    _lock(report, int(gone.stdout))
    proc = conformance(
        "run", "--config", str(certified.config), "--report-dir", str(report), *ONE_REQUIREMENT
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr  # a selection: INCOMPLETE at best
    assert (report / "results.json").is_file() and not (report / ".conformance.lock").exists()
