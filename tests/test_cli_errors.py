"""Command-line mistakes end in one line and the right exit code, never a traceback or a request.

Each command runs through the CLI's ``main`` in this process (what ``python -m conformance`` runs,
without a new interpreter each time); a ``-k`` selection, which starts pytest to collect, and the
closed pipe run as a subprocess. A connection-counting socket stands in for the target where the
mistake must be caught before anything is sent.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import suite_runs
from tests.results_docs import results_doc
from tests.suite_runs import conformance_argv
from tests.test_config import _ConnectionCounter


def conformance(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return suite_runs.conformance_in_process(*args, cwd=cwd)


def conformance_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return suite_runs.conformance(*args, timeout=120, env={"PYTHONWARNINGS": "ignore"})


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def counter() -> Iterator[_ConnectionCounter]:
    c = _ConnectionCounter()
    yield c
    c.close()


@pytest.fixture
def config(tmp_path: Path, counter: _ConnectionCounter) -> Path:
    """A valid config whose target only counts connections (any request would show)."""
    path = tmp_path / "target.toml"
    path.write_text(
        f'base_url = "http://127.0.0.1:{counter.sock.getsockname()[1]}"\nphoto_id = "1"\n'
        '[credentials.write]\nconsumer_key = "k"\nconsumer_secret = "c"\n'
        'access_token = "t"\naccess_token_secret = "s"\n'
        '[credentials.read]\nconsumer_key = "k"\nconsumer_secret = "c"\n'
        'access_token = "t"\naccess_token_secret = "s"\n',
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------ replay
def test_replay_with_an_unconfigured_level(config: Path, counter: _ConnectionCounter) -> None:
    proc = conformance("replay", "--config", str(config), "--auth", "superuser", "photo_id=1")
    assert proc.returncode == 2
    assert one_line(proc) == (
        f"conformance replay: --auth superuser: no [credentials.superuser] in {config} "
        "(configured: read, write, or 'none' for unsigned)"
    )
    assert counter.count == 0


def test_replay_level_typo_gets_a_did_you_mean(config: Path, counter: _ConnectionCounter) -> None:
    proc = conformance("replay", "--config", str(config), "--auth", "wrte")
    assert proc.returncode == 2
    assert one_line(proc).endswith("(did you mean 'write'?)")
    assert counter.count == 0


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["photo_id"], "conformance replay: parameter 'photo_id' is not KEY=VALUE"),
        (
            ["--post-query", "debug", "photo_id=1"],
            "conformance replay: --post-query 'debug' is not KEY=VALUE",
        ),
        (
            ["--path", "nope", "photo_id=1"],
            "conformance replay: --path 'nope' must start with '/' (it is appended to base_url)",
        ),
    ],
)
def test_replay_lines_that_describe_no_request(
    config: Path, counter: _ConnectionCounter, args: list[str], line: str
) -> None:
    proc = conformance("replay", "--config", str(config), *args)
    assert proc.returncode == 2
    assert one_line(proc) == line
    assert counter.count == 0


# ------------------------------------------------------------------ report diff
def test_report_diff_on_results_without_a_verdict(tmp_path: Path) -> None:
    good = results_doc({"AUTH-WRITE-GRANTED": "pass"})
    broken = results_doc({"AUTH-WRITE-GRANTED": "pass"})
    del broken["requirements"][0]["verdict"]
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(good), encoding="utf-8")
    new.write_text(json.dumps(broken), encoding="utf-8")
    proc = conformance("report", "diff", str(old), str(new))
    assert proc.returncode == 2
    assert one_line(proc) == (
        f"conformance report diff: {new}: not a results document this suite reads: at requirements/0: "
        "'verdict' is a required property"
    )


def test_catalog_into_a_closed_pipe_ends_quietly() -> None:
    """``conformance catalog | head -1``: the reader is gone; no BrokenPipeError traceback.

    The reading end is closed before the command starts, so its first write meets a broken pipe
    whatever the pipe buffer's size (a reader that leaves late would race with the writer).
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            conformance_argv("catalog", "--with-tests"),
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports a tool ended by the pipe
    assert proc.stderr.decode() == ""


# ------------------------------------------------------------------ -k selections
@pytest.mark.parametrize(
    ("keyword", "line"),
    [
        (
            "no_such_test_x",
            "conformance: no suite test matches -k 'no_such_test_x'; nothing was certified",
        ),
        (
            "redeem",
            "conformance: -k 'redeem' selects only tests outside profile core (add --profile full); "
            "nothing would be certified",
        ),
        ("and or", "conformance: -k 'and or' is not a valid selection: Wrong expression passed to '-k'"),
    ],
)
def test_a_selection_that_runs_nothing_is_refused_before_any_request(
    tmp_path: Path, config: Path, counter: _ConnectionCounter, keyword: str, line: str
) -> None:
    proc = conformance_subprocess(
        "run", "--config", str(config), "--report-dir", str(tmp_path / "r"), "-k", keyword
    )
    assert proc.returncode == 2
    assert one_line(proc).startswith(line)
    assert counter.count == 0
    assert not (tmp_path / "r" / "results.json").exists()
