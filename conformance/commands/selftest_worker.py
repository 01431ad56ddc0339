"""How a ``conformance selftest`` worker runs a case's suite: warmed once, forked per case, in memory.

A fresh interpreter per case paid about 2 s of CPU before its first request: the imports, the
schemas compiled, Hypothesis's Unicode tables read. A worker pays that once
(:func:`warm_worker`, the pool's initializer) and forks a copy of itself per case
(:class:`ForkedRun`), which runs the command as ``python -m conformance`` does. A case keeps its
server's database in memory where the system has it (:func:`memory_backed_dir`).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from hypothesis import strategies as st

from conformance.commands import run as _run  # noqa: F401  imported by the worker, so each fork has it
from conformance.commands.selection import hypothesis_home
from conformance.model.exit_codes import EXIT_INTERRUPTED
from conformance.parse.schemas import json_validator, schema_dir, validate_xml_response


class ForkedRun:
    """A case's ``python -m conformance run ...``, run by a fork of this warmed worker.

    The copy runs the command as ``python -m conformance`` does (``runpy``), in a process of its
    own: its state, its crash and its timeout stay its own. It is forked before the case's server
    starts, while the worker has no other thread, so no lock is inherited held, and waits for its
    command line (:meth:`run`) until the server is up and its config written.
    """

    def __init__(self, cmd: list[str], tmp: Path) -> None:
        self._cmd = cmd
        self._stdout, self._stderr = tmp / "run.stdout", tmp / "run.stderr"
        _join_other_threads()
        fork = multiprocessing.get_context("fork")  # here, not at import: the CLI imports this module
        receive, self._send = fork.Pipe(duplex=False)
        self._proc = fork.Process(
            target=_run_forked, args=(receive, str(self._stdout), str(self._stderr)), name="selftest-run"
        )
        self._proc.start()
        receive.close()

    def run(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Start the run and wait for it; interrupted, the run is asked to stop (it writes its
        reports and removes its temp files) before it is killed."""
        self._send.send(self._cmd[3:])  # what follows "python -m conformance"
        self._send.close()
        try:
            self._proc.join(timeout)
        except KeyboardInterrupt:
            self._proc.terminate()
            self._proc.join(30)
            raise
        if self._proc.exitcode is None:
            self._proc.kill()
            self._proc.join()
            raise subprocess.TimeoutExpired(self._cmd, timeout)
        out, errors = (p.read_text(encoding="utf-8", errors="replace") for p in (self._stdout, self._stderr))
        return subprocess.CompletedProcess(self._cmd, self._proc.exitcode, out, errors)

    def __enter__(self) -> ForkedRun:
        return self

    def __exit__(self, *exc: object) -> None:
        """No child outlives its case: one still waiting for its command line reads EOF and ends."""
        self._send.close()
        self._proc.join(5)
        if self._proc.exitcode is None:
            self._proc.kill()
            self._proc.join()
        self._proc.close()


def _run_forked(receive: Connection, stdout: str, stderr: str) -> None:
    """The forked child: wait for the command line, then be ``python -m conformance`` running it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a fresh interpreter; the run installs its own
    try:
        argv = receive.recv()
    except EOFError:  # the case ended before its run started
        sys.exit(EXIT_INTERRUPTED)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # the worker had pointed stderr at server.log
    sys.argv = ["conformance", *argv]
    runpy.run_module("conformance", run_name="__main__", alter_sys=True)  # exits with the run's code


def _join_other_threads(timeout: float = 5.0) -> None:
    """Wait for what is left of the previous case's server (a connection's handler finishing)."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(timeout)


def warm_worker() -> None:
    """Pool initializer: compute once what every run would compute alike, for its forks to inherit.

    The modules a run imports are imported with this one; Hypothesis's Unicode tables are read
    (from its cache; 1-2 s of CPU to build where there is none) and the schemas compiled (the
    XSD 1.1 alone 0.1-0.2 s), which a run does on its first response. The objects made up to here
    are frozen out of the garbage collector's scans, which every case would otherwise repeat (and,
    writing to them, copy the worker's memory page by page).
    """
    with hypothesis_home():
        st.characters(codec="utf-8").validate()
        st.characters(exclude_categories=("Cs",)).validate()
    validate_xml_response(b'<response status="ok"/>')
    for path in schema_dir().glob("*.json"):
        json_validator(path.name)
    gc.freeze()


def memory_backed_dir() -> str | None:
    """Where a case keeps its files: in memory (``/dev/shm``) where the system has it, else None
    (the default temp dir).

    The reference's SQLite database syncs every commit to disk: on a virtual machine's disk that
    was most of a case's wall time (the clean reference's run 27 s against 16 s in memory) and a
    quarter of its server's CPU. A case's data lives only as long as the case, so nothing is lost;
    the two faults whose defect is a race hold their window open with a sleep of their own.
    """
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
