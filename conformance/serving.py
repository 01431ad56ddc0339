"""A socket server on a daemon thread: how the embedded reference and the callback receiver serve.

Both stand at the bottom of their own stacks (the reference shares nothing with the suite but the
spec, the model and this), so the one way to start, address and stop such a server lives here.
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any, Self

POLL_SECONDS = 0.05
STOP_WAIT_SECONDS = 2.0  # how long stop() waits for requests already accepted to be answered


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 literal in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class ServerThread:
    """Serve ``server`` on a daemon thread from construction until :meth:`stop`."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        # stop() waits for the loop's next poll: 0.05 s instead of the default 0.5 s, which every
        # start-stop paid (a run stops its reference and receiver; the project's tests, hundreds).
        poll = {"poll_interval": POLL_SECONDS}
        self._thread = threading.Thread(target=server.serve_forever, kwargs=poll, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where the server listens (its bound address, the real port when 0 was asked for)."""
        host, port = self.server.server_address[:2]  # type: ignore[misc]
        return http_url(str(host), int(port))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        # Requests accepted before the close are still being answered on their own threads: what
        # the server drops after stop() (the reference's database) must outlive them.
        wait_idle = getattr(self.server, "wait_idle", None)
        if wait_idle is not None:
            wait_idle(STOP_WAIT_SECONDS)


class Served:
    """Start, stop and ``with`` for a component that serves on a :class:`ServerThread`.

    A subclass's ``start()`` sets ``self._serving`` and returns ``self``; ``_after_stop()`` drops
    what it kept (the reference deletes its temporary database there).
    """

    _serving: ServerThread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    @property
    def server(self) -> socketserver.BaseServer | None:
        return self._serving.server if self._serving is not None else None

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        self._after_stop()

    def _after_stop(self) -> None:
        """Nothing more to drop by default."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ bounds for a threaded server
# A thread per connection is cheap until clients open connections and say nothing (or one byte a
# second): each holds a thread forever. A server here bounds both: a request's head and body must
# arrive within a read timeout (wall clock, however slowly the bytes drip), and at most
# ``max_connections`` are served at once; the next one is refused with 503 and Retry-After.
_BUSY_TEXT = b"too many connections, retry shortly\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)


class DeadlineReader(io.RawIOBase):
    """A connection's socket as its handler reads it: no read goes past ``deadline()``.

    Each ``recv`` waits at most until the deadline (a read after it raises ``TimeoutError``, which
    ``http.server`` treats as a timed-out request), then the socket gets ``idle`` back as its
    per-operation timeout, so writing the answer is bounded but not by what is left of the deadline.
    """

    def __init__(self, sock: socket.socket, deadline: Callable[[], float], idle: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._idle = idle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline() - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within the read timeout")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._idle)


class BoundedConnections:
    """Mixin for a ``socketserver.ThreadingMixIn`` server: at most ``max_connections`` at once.

    A connection over the cap gets :data:`BUSY` from the accepting thread (never blocking it) and
    is closed; a slot is free again when its handler thread ends.
    """

    max_connections = 128
    refused = 0  # connections turned away since start

    def _idle(self) -> threading.Condition:
        idle: threading.Condition | None = self.__dict__.get("_bounded_idle")
        if idle is None:
            idle = self.__dict__["_bounded_idle"] = threading.Condition()
        return idle

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being served (at most ``timeout`` seconds); whether none is."""
        idle = self._idle()
        with idle:
            return idle.wait_for(lambda: self.__dict__.get("_bounded_active", 0) == 0, timeout)

    def _count(self, change: int) -> None:
        idle = self._idle()
        with idle:
            self.__dict__["_bounded_active"] = self.__dict__.get("_bounded_active", 0) + change
            idle.notify_all()

    def _slots(self) -> threading.BoundedSemaphore:
        slots: threading.BoundedSemaphore | None = self.__dict__.get("_bounded_slots")
        if slots is None:
            slots = self.__dict__["_bounded_slots"] = threading.BoundedSemaphore(self.max_connections)
        return slots

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots().acquire(blocking=False):
            self.refused += 1
            _refuse(request)
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        self._count(+1)
        try:
            super().process_request(request, client_address)  # type: ignore[misc]
        except BaseException:
            self._slots().release()
            self._count(-1)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._slots().release()
            self._count(-1)


def _refuse(sock: socket.socket) -> None:
    """Say 503 without waiting: what the client already sent is read away first, so closing does
    not reset the connection before it reads the answer."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.recv(65536)
        sock.send(BUSY)
