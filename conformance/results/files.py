"""The one way a report file is written: completely or not at all.

A full disk (or a quota, a file-size limit, a read-only mount) must not leave a truncated
results.json where a complete one stood, nor read as the target's failure. Every report writer
(results.json, report.html, junit.xml, certificate.zip, badge.svg, the matrix and self-test pages)
goes through :func:`write_atomic`: a temporary file in the same directory, flushed to disk, then
``os.replace`` over the old name. A failure removes the temporary file and raises
:class:`ReportWriteError`, whose message is the one line the user sees.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class ReportWriteError(OSError):
    """A report file could not be written; ``str()`` names the path and the error in one line."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(exc.errno, f"could not write {path}: {exc.strerror or exc}")
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` so that it is either the new file or the old one."""
    path = Path(path)
    payload = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the report unreadable to a CI's other users
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ReportWriteError(path, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
