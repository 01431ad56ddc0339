"""Reading one answer within its limits: the time window of a request, and a body read through a cap.

Split from the client so ``client.py`` reads in one sitting: the window says how long a request may
take (the per-request timeout, or less when the run deadline is nearer, which then takes the
blame); the reader stops at ``max_body_bytes`` and at the window's end, whatever the target sends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from conformance.transport.errors import TransportError, classify, is_timeout


@dataclass(frozen=True)
class Window:
    """How long one request may take: the per-request timeout, or less when the run deadline is nearer."""

    limit: float
    by_run_deadline: bool

    @classmethod
    def starting(cls, t0: float, timeout: float, deadline: float) -> Window:
        run_left = deadline - t0
        return cls(max(0.001, min(timeout, run_left)), run_left < timeout)


def read_capped(resp: requests.Response, deadline: float, cap: int) -> tuple[bytes, bool]:
    """Read at most max_body_bytes (+1 to detect oversize) before the per-request deadline.

    ``read1`` returns whatever arrived (it never waits to fill the buffer), so a dripping
    body is checked against the deadline byte by byte; a read blocked in between is ended
    by the watchdog. Time running out is a ``TimeoutError`` either way.
    """
    chunks: list[bytes] = []
    total = 0
    raw = resp.raw
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("body incomplete")
        try:
            chunk = raw.read1(65536, decode_content=True) if hasattr(raw, "read1") else raw.read(65536)
        except Exception as exc:  # urllib3 protocol/decoding errors mid-body
            if is_timeout(exc):
                raise  # time ran out: send() classifies it with the watchdog's firings
            kind, message = classify(exc, resp.url, None)
            raise TransportError(f"body could not be read: {message}", kind) from None
        if not chunk:
            return b"".join(chunks), False
        total += len(chunk)
        if total > cap:
            chunks.append(chunk[: len(chunk) - (total - cap)])
            return b"".join(chunks), True
        chunks.append(chunk)
