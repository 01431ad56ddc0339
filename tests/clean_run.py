"""One clean run of the README's main command, shared by every test that only reads its reports.

``conformance run`` with no config certifies the embedded reference. Several test modules each
started this same run of their own (minutes of the project's test time); the session fixture
starts it once, in a subprocess as a user runs it, from a working directory of its own with the
report directory given relative to it. Tests must not write into ``report``: copy it first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import suite_runs

SEED = "7"
OPTIONS = ("--max-examples", "3", "--settings", "polite", "--seed", SEED)


@dataclass(frozen=True)
class CleanRun:
    cwd: Path
    report: Path
    proc: subprocess.CompletedProcess[str]
    env: dict[str, str]

    def results(self) -> dict[str, Any]:
        return json.loads((self.report / "results.json").read_text(encoding="utf-8"))

    def html(self) -> str:
        return (self.report / "report.html").read_text(encoding="utf-8")


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The user's environment (plus ``extra``) and the venv's bin on PATH (so `conformance` resolves
    as installed)."""
    env = {**os.environ, **(extra or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRun]:
    """``conformance run --report-dir report`` (no config: the embedded reference), core profile."""
    cwd = tmp_path_factory.mktemp("clean-run")
    env = venv_env()
    proc = suite_runs.conformance("run", "--report-dir", "report", *OPTIONS, cwd=cwd, env=env)
    yield CleanRun(cwd, cwd / "report", proc, env)
