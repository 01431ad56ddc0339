"""What several commands share: the one-line usage error, the report directory check, the run argv.

Every command reports a user mistake as one line on stderr and exit 2 (``EXIT_USAGE``); the
commands that run the suite for many targets (``selftest``, ``matrix``) start it the way a user
does, ``python -m conformance run ...`` in a subprocess, built by :func:`run_argv`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


class UsageError(Exception):
    """A command-line mistake found before any request: exit 2 with this one line."""


def err(message: str, command: str = "conformance") -> None:
    """One line on stderr, prefixed with the command that says it."""
    print(f"{command}: {message}", file=sys.stderr)


def add_list_option(parser: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """An option that may be given again and again; its values in order, [] when never given."""
    parser.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def check_report_dir(path: Path) -> None:
    """The report directory exists (created if need be) and takes a file, or UsageError."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--report-dir {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"--report-dir {path}: not a writable directory ({exc.strerror or exc})") from None


def run_argv(
    config: str | Path,
    report_dir: str | Path,
    *,
    profile: str,
    seed: int,
    settings: str,
    options: Sequence[tuple[str, object | None]] = (),
    flags: Sequence[str] = (),
) -> list[str]:
    """``python -m conformance run`` for one target, quiet: the argv a user would type.

    ``options`` are ``(flag, value)`` pairs, left out when the value is None; ``flags`` follow as given.
    """
    argv = [sys.executable, "-m", "conformance", "run", "--config", str(config)]
    argv += ["--report-dir", str(report_dir), "--profile", profile, "--seed", str(seed)]
    argv += ["--settings", settings, "--quiet"]
    for flag, value in options:
        if value is not None:
            argv += [flag, str(value)]
    return [*argv, *flags]
