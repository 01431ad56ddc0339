"""One run per report directory, and no earlier certificate beside a new run's reports.

Two runs writing into one directory at once would mix their files (one's results.json, the
other's report.html); a NOT CONFORMANT run into a directory that held a certificate would leave
the old green ``certificate.zip`` and ``badge.svg`` beside its red reports. So a run claims the
directory with a lock file (a second run exits 2 naming the first; a lock whose process is gone is
taken over) and removes what an earlier run certified before it writes anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from conformance.commands.common import UsageError
from conformance.model.text import printable
from conformance.report.certificate import STALE_ON_NEW_RUN

LOCK_NAME = ".conformance.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def _holder(path: Path) -> dict[str, object] | None:
    """The lock's content, or None when it is unreadable or its process is gone (a stale lock)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")[:4096])
        pid, host = int(data["pid"]), str(data["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == socket.gethostname() and not _alive(pid):
        return None
    return data  # type: ignore[no-any-return]


class ReportDirClaim:
    """The lock on a report directory while a run writes into it (a context manager)."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.path = report_dir / LOCK_NAME
        self.removed: list[str] = []

    def __enter__(self) -> ReportDirClaim:
        try:
            self.report_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--report-dir {self.report_dir}: {exc.strerror or exc}") from None
        content = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        for _ in range(2):  # a stale lock is removed once, then claimed
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _holder(self.path)
                if holder is not None:
                    started = time.strftime("%H:%M:%S", time.localtime(float(str(holder.get("started", 0)))))
                    raise UsageError(
                        f"--report-dir {self.report_dir} is in use by another conformance run "
                        f"(pid {printable(holder.get('pid'), 20)} on {printable(holder.get('host'), 60)}, "
                        f"started {started}); use another --report-dir or wait for it"
                    ) from None
                with contextlib.suppress(OSError):
                    self.path.unlink()
                continue
            except OSError as exc:
                raise UsageError(f"--report-dir {self.report_dir}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
            break
        else:
            raise UsageError(f"--report-dir {self.report_dir}: its lock file {LOCK_NAME} cannot be claimed")
        self._remove_stale()
        return self

    def _remove_stale(self) -> None:
        """An earlier run's certificate and badge go before this run writes anything."""
        for name in STALE_ON_NEW_RUN:
            path = self.report_dir / name
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.release()
                raise UsageError(f"cannot remove the earlier {path}: {exc.strerror or exc}") from None
            self.removed.append(name)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def __exit__(self, *exc: object) -> None:
        self.release()
