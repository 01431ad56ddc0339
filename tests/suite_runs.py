"""Running the conformance suite against real servers from the project's own tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from conformance.commands.cli import main as cli_main
from conformance.reference.server import ReferenceServer

FAST = ("--max-examples", "4", "--settings", "polite")


def write_config(path: Path, server: ReferenceServer, **overrides: Any) -> Path:
    """A TOML target config for a live reference server, with some keys overridden or dropped (None)."""
    data = server.target_config()
    data.update(overrides)
    lines = []
    tables = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables[key] = value
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    for key, table in tables.items():
        for sub, values in table.items():
            if isinstance(values, dict):
                lines.append(f"[{key}.{sub}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
            else:
                lines.append(f"[{key}]")
                lines.append(f"{sub} = {json.dumps(values)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conformance_argv(*args: str) -> list[str]:
    """``python -m conformance ARGS``: the one way the project's tests start the command."""
    return [sys.executable, "-m", "conformance", *args]


def sigterm_once_claimed(
    argv: list[str], lock: Path, poll: float = 0.0005
) -> subprocess.CompletedProcess[str]:
    """Run a conformance command and SIGTERM it the moment ``lock`` (a report directory's lock
    file: the run has claimed it) appears; its exit code and output."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 120
        while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(poll)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def conformance(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance ARGS`` in a subprocess, as a user would run it (``env`` adds variables)."""
    return subprocess.run(
        conformance_argv(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def conformance_in_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``conformance ARGS`` through ``cli.main`` in this process, its output captured.

    ``python -m conformance`` does nothing but call ``main``; a new interpreter costs a second or
    two. For commands that end before a suite run (usage, config and report errors, report
    commands) where starting a process is not what the test is about. A crash is an exception
    here, so it still fails the test; warnings are ignored as ``PYTHONWARNINGS=ignore`` would.
    """
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        contextlib.chdir(cwd) if cwd else contextlib.nullcontext(),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            code = cli_main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(["conformance", *args], code, out.getvalue(), err.getvalue())


def run_suite(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance run ARGS`` in a subprocess, as a user would run it."""
    return conformance("run", *args, env=env, timeout=timeout)


def run_plain_pytest(
    config: Path, report_dir: Path, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The suite under plain pytest with the plugin, as a CI job would run it (cwd: the report dir)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conformance.suite.plugin",
            "--pyargs",
            "conformance.suite",
            "--target-config",
            str(config),
            "--conformance-report-dir",
            str(report_dir),
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=report_dir,
    )


def verdicts(report_dir: Path) -> dict[str, str]:
    results = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    return {r["id"]: r["verdict"] for r in results["requirements"]}
