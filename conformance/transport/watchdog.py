"""A wall-clock deadline for each exchange, enforced by shutting its sockets down.

Socket timeouts bound each ``recv``, not the exchange: a server dripping one byte a second (into
the status line, the headers or the TLS handshake) would never trip them. Each exchange arms a
:class:`Watch`; the sockets its connections open (or reuse) register with the watch of the thread
performing it, and when the deadline passes one daemon thread shuts them down, which ends any
blocked read at once. :class:`WatchedAdapter` is the requests adapter that makes this so.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from conformance.transport.headers import CappedHTTPResponse

_current = threading.local()  # the Watch of the exchange this thread is performing


class Watch:
    """The wall-clock deadline of one exchange and the sockets it uses.

    Used as a context manager around the exchange: inside it, the thread's new and reused
    connections register their sockets; on exit, the watch lets go of them.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._finished = False
        self._socks: dict[int, socket.socket] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Watch:
        _current.watch = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.watch = None
        self.finish()

    def add(self, sock: Any) -> None:
        """Track a connection's socket (through a duplicate fd, so TLS wrapping cannot detach it)."""
        try:
            fd = sock.fileno()
            if fd < 0:
                return
            dup = socket.fromfd(fd, sock.family, sock.type)
        except (OSError, AttributeError, ValueError):
            return
        with self._lock:
            keep = not self._finished and fd not in self._socks
            if keep:
                self._socks[fd] = dup
            fired = self.fired
        if not keep:
            dup.close()
        elif fired:
            _shutdown(dup)

    def fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.fired = True
            socks = list(self._socks.values())
        for dup in socks:
            _shutdown(dup)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            socks, self._socks = list(self._socks.values()), {}
        for dup in socks:
            with contextlib.suppress(OSError):
                dup.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread firing the watches whose deadline has passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> Watch:
        """A watch that fires at ``deadline`` (``time.monotonic`` seconds)."""
        watch = Watch(deadline)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="conformance-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, watch = heapq.heappop(self._heap)
            watch.fire()


WATCHDOG = Watchdog()


def _watch_socket(sock: Any) -> None:
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    response_class = CappedHTTPResponse  # the response head is read only up to its cap

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _watch_socket(self.sock)  # a kept-alive connection being reused
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    response_class = CappedHTTPResponse

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)  # before the TLS handshake, so a dripping handshake is bounded too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _watch_socket(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections whose sockets the watchdog can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
