"""Report files are written whole or not at all; a full disk is the environment's failure (exit 2).

The failing disk is real, not a mock: the child process runs under ``RLIMIT_FSIZE`` (with SIGXFSZ
ignored), so every write past the limit fails with EFBIG, as a full or over-quota filesystem fails
with ENOSPC. Tests run as root, so a read-only directory would not stop the writes.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.results.files import ReportWriteError, write_atomic
from tests.suite_runs import conformance_argv, write_config

FILE_LIMIT = 2_000  # bytes: each report of a run is larger, the child's small files are not


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_failed_write_leaves_the_earlier_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, '{"earlier": "complete"}')
    code = (
        "import sys; from pathlib import Path; from conformance.results.files import write_atomic\n"
        "try:\n"
        f"    write_atomic(Path({str(target)!r}), 'x' * {FILE_LIMIT * 3})\n"
        "except OSError as exc:\n"
        "    print(exc); sys.exit(7)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_limited, timeout=60
    )
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.strip() == f"could not write {target}: File too large"
    assert target.read_text(encoding="utf-8") == '{"earlier": "complete"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary file left


def test_write_atomic_replaces_and_names_the_path_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_atomic(target, "old")
    write_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    blocked = target / "inside.json"  # a file where a directory is expected
    with pytest.raises(ReportWriteError) as err:
        write_atomic(blocked, "x")
    assert str(err.value) == f"could not write {blocked}: Not a directory"


def test_a_run_that_cannot_write_its_reports_prints_the_verdict_and_exits_2(tmp_path: Path) -> None:
    """A NOT CONFORMANT target whose reports do not fit: the verdict on the console, one line, exit 2."""
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    earlier = {
        "report.html": "<p>an earlier complete report</p>",
        "junit.xml": "<testsuites/>",
    }
    for name, text in earlier.items():
        (report_dir / name).write_text(text, encoding="utf-8")
    settings = ReferenceSettings(faults=frozenset(["unsigned_gets_token"]))
    with ReferenceServer(settings) as server:  # in this process: the file limit binds only the run
        cfg = write_config(tmp_path / "t.toml", server)
        proc = subprocess.run(
            conformance_argv(
                "run",
                "--config",
                str(cfg),
                "--requirement",
                "AUTH-",
                "--report-dir",
                str(report_dir),
                "--settings",
                "polite",
                "--max-examples",
                "1",
                "--color",
                "never",
            ),
            capture_output=True,
            text=True,
            preexec_fn=_limited,
            timeout=240,
        )
    assert "verdict: NOT CONFORMANT" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [
        f"conformance: could not write {report_dir / 'results.json'}: File too large; "
        "not written either: report.html, junit.xml"
    ], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "reports:" not in proc.stdout  # the earlier files still there are not this run's
    for name, text in earlier.items():  # never replaced by a partial file
        assert (report_dir / name).read_text(encoding="utf-8") == text
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(earlier)  # no temporary file left
