"""A cap on the bytes of a response head (status line and headers), enforced while they are read.

``http.client`` allows 100 header lines of 64 KiB each, so one answer may carry 6 MB of headers
before its body; a target that sends that to every request of a run would make the suite hold
gigabytes. :class:`CappedHTTPResponse` (the response class of the watched connections, see
:mod:`.watchdog`) counts the head's bytes as ``http.client`` reads them and stops at the cap
with :class:`HeadTooLarge`, which keeps what was read so the client can record the answer as
oversize, as it does a body over ``max_body_bytes``.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from typing import Any

from conformance.config import RunLimits

_current = threading.local()  # the cap of the exchange this thread performs


class HeadTooLarge(http.client.HTTPException):
    """The response head exceeded the cap; ``head`` holds the first ``cap`` + 1 bytes read."""

    def __init__(self, cap: int, head: bytes) -> None:
        super().__init__(f"response headers exceed {cap} bytes ([limits] max_header_bytes)")
        self.cap = cap
        self.head = head

    def parsed(self) -> tuple[int | None, str, list[tuple[str, str]]]:
        """(status, reason, headers) read before the cap: the last header may be cut short."""
        lines = self.head[: self.cap].decode("iso-8859-1").split("\n")
        status: int | None = None
        reason = ""
        parts = lines[0].split(None, 2) if len(lines) > 1 else []  # a status line cut short: none
        if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
            status = int(parts[1])
            reason = parts[2].strip() if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep and name.strip():
                headers.append((name.strip(), value.strip()))
        return status, reason, headers


@contextlib.contextmanager
def header_cap(cap: int) -> Iterator[None]:
    """Responses read by this thread inside the block stop at ``cap`` bytes of head."""
    previous = getattr(_current, "cap", None)
    _current.cap = cap
    try:
        yield
    finally:
        _current.cap = previous


class _CountingReader:
    """The socket file as ``http.client`` reads the head from it, never past the cap."""

    def __init__(self, raw: Any, cap: int) -> None:
        self.raw = raw
        self.cap = cap
        self.read_so_far: list[bytes] = []
        self.count = 0

    def readline(self, limit: int = -1) -> bytes:
        room = self.cap - self.count + 1  # one byte more than allowed: over the cap is then certain
        line: bytes = self.raw.readline(room if limit is None or limit < 0 else min(limit, room))
        self.count += len(line)
        self.read_so_far.append(line)
        if self.count > self.cap:
            raise HeadTooLarge(self.cap, b"".join(self.read_so_far))
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class CappedHTTPResponse(http.client.HTTPResponse):
    """``http.client``'s response, reading at most the thread's cap of head bytes."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        cap = getattr(_current, "cap", None) or RunLimits().max_header_bytes
        counting = _CountingReader(self.fp, cap)
        self.fp = counting  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if self.fp is counting:  # http.client sets None when it closes the connection itself
                self.fp = counting.raw
