"""The console of ``conformance run``: snapshots on a terminal (a pty) and in a CI log (a pipe).

Runs are real (the embedded reference, a faulted reference, a closed port); what varies from run
to run (ports, temp paths, request counts, durations, clock skew) is normalised before comparing.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.reference.server import ReferenceServer, ReferenceSettings
from tests.suite_runs import conformance_argv, run_suite, write_config

QUICK = ("--max-examples", "2", "--settings", "polite", "--seed", "5")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[3[0-9]m")
BAR_FRAME = re.compile(r"\r\x1b\[K\[[#-]+\] \d+/\d+ tests \| FORMAT \d+/\d+ \| \d+ requests sent")


def run_in_pty(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> tuple[str, int]:
    """``conformance run ARGS`` with a terminal as stdin/stdout/stderr; returns (output, exit code)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        conformance_argv("run", *args),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=timeout)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"), code


def normalise(text: str, report: Path) -> str:
    """The output with what legitimately varies replaced by placeholders."""
    text = text.replace(str(report), "<DIR>")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<PORT>", text)
    text = re.sub(r" +\d+ requests\b", " <N> requests", text)
    text = re.sub(r"\| seed (\d+) \(reproduce with --seed \1\) \|", "| seed <SEED> |", text)
    text = re.sub(r"requests sent: \d+", "requests sent: <N>", text)
    text = re.sub(r"clock skew (n/a|[+-]\d+\.\ds)", "clock skew <S>", text)
    text = re.sub(r"duration \d+\.\ds", "duration <D>", text)
    text = re.sub(r"retries \d+", "retries <R>", text)
    text = re.sub(r"photo_id=\w+", "photo_id=<ID>", text)
    text = re.sub(r"\(\d+\):", "(<K>):", text)
    text = re.sub(r" and \d+ more:", " and <M> more:", text)
    text = re.sub(r": \d+ MUST not verified", ": <K> MUST not verified", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


@pytest.fixture(scope="module")
def faulted() -> Iterator[ReferenceServer]:
    with ReferenceServer(ReferenceSettings(faults=frozenset({"callback_ignored"}))) as server:
        yield server


NON_TTY_SNAPSHOT = """\
conformance: no --config given; certifying the embedded reference at http://127.0.0.1:<PORT>
conformance: target http://127.0.0.1:<PORT> | profile core | seed <SEED> | settings polite
  PHOTO    3/3   tests <N> requests  ok

MUST not verified (<K>): accept a gap knowingly with --accept-unverified ID or [verdict] accept_unverified
  {ids} and <M> more: deselected by --requirement PHOTO-
requests sent: <N> (budget 20000), retries <R>, timeouts 0, clock skew <S>, duration <D>
seed: 5 (reproduce with --seed 5)
reports: <DIR>/report.html
         <DIR>/junit.xml
         <DIR>/results.json
verdict: INCOMPLETE (profile core): <K> MUST not verified"""


def test_ci_log_console_snapshot(tmp_path: Path) -> None:
    """Not a terminal: one line per finished group, the final block, no colour, no pytest noise."""
    report = tmp_path / "r"
    proc = run_suite("--report-dir", str(report), "--requirement", "PHOTO-", *QUICK)
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = normalise(proc.stdout, report)
    first_ids = re.search(r"^  (\S.*?) and <M> more:", out, re.M)
    assert first_ids is not None, out
    assert out == NON_TTY_SNAPSHOT.format(ids=first_ids.group(1))
    assert not ANSI.search(proc.stdout) and "site-packages" not in proc.stdout + proc.stderr
    assert "PASSED" not in proc.stdout and proc.stderr == ""


FAILED_SNAPSHOT = """\
MUST failed (<K>):
  FORMAT-JSONP: JSON wrapper is var visual = ..., expected updateTags({...});
    test: test_format.py::test_callback_gives_jsonp
    conformance replay --config <DIR>/t.toml --requirement FORMAT-JSONP --check check_json_wrapper \
--method GET --auth write --placement header photo_id=<ID> format=json callback=updateTags"""


def test_terminal_console_snapshot_with_colour_and_progress_bar(
    tmp_path: Path, faulted: ReferenceServer
) -> None:
    cfg = write_config(tmp_path / "t.toml", faulted)
    report = tmp_path / "r"
    raw, code = run_in_pty(
        "--config",
        str(cfg),
        "--report-dir",
        str(report),
        "--requirement",
        "FORMAT-",
        *QUICK,
        env={"NO_COLOR": ""},
    )
    assert code == 1, raw[-3000:]
    assert len(BAR_FRAME.findall(raw)) >= 3  # the bar is redrawn in place as tests finish
    assert "\x1b[31mNOT CONFORMANT\x1b[0m" in raw  # the verdict in red
    final = raw.rsplit("\x1b[K", 1)[1]  # after the bar is cleared for the last time
    plain = normalise(ANSI.sub("", final), tmp_path)
    assert FAILED_SNAPSHOT in plain, plain
    assert plain.splitlines()[-1] == "verdict: NOT CONFORMANT (profile core): 1 MUST failed"
    assert re.search(
        r"^  FORMAT\s+(\d+)/\1\s+tests <N> requests\s+1 failed$", normalise(ANSI.sub("", raw), tmp_path), re.M
    )


def test_no_color_and_color_option(tmp_path: Path, faulted: ReferenceServer) -> None:
    cfg = write_config(tmp_path / "t.toml", faulted)
    base = ("--config", str(cfg), "--requirement", "FORMAT-JSONP", *QUICK)
    raw, code = run_in_pty(*base, "--report-dir", str(tmp_path / "a"), env={"NO_COLOR": "1"})
    assert code == 1 and not COLOUR.search(raw) and "verdict: NOT CONFORMANT" in raw
    raw, code = run_in_pty(*base, "--report-dir", str(tmp_path / "b"), "--color", "never")
    assert code == 1 and not COLOUR.search(raw)
    proc = run_suite(*base, "--report-dir", str(tmp_path / "c"), "--color", "always", env={"NO_COLOR": "1"})
    assert proc.returncode == 1 and "\x1b[31mNOT CONFORMANT\x1b[0m" in proc.stdout


def test_unreachable_target_stops_after_preflight_with_the_reason_last(
    tmp_path: Path, faulted: ReferenceServer
) -> None:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = write_config(tmp_path / "t.toml", faulted, base_url=f"http://127.0.0.1:{port}")
    proc = run_suite("--config", str(cfg), "--report-dir", str(tmp_path / "r"), *QUICK)
    assert proc.returncode == 3, proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) < 12 and "ERROR" not in proc.stdout + proc.stderr
    assert lines[-1].startswith("verdict: UNREACHABLE (profile core): target unreachable: connection refused")
    assert f"127.0.0.1:{port}" in lines[-1]


def test_pytest_output_keeps_the_old_console(tmp_path: Path) -> None:
    proc = run_suite("--report-dir", str(tmp_path / "r"), "--requirement", "PHOTO-", "-v", *QUICK)
    assert proc.returncode == 4, proc.stdout[-3000:]
    assert " PASSED" in proc.stdout and "requirement" in proc.stdout and "level   verdict" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("verdict: INCOMPLETE (profile core)")
