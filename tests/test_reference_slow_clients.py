"""The reference server bounds slow clients: a read timeout for a request's head and body, and a cap
on concurrent connections (``conformance serve --request-timeout S --max-connections N``).

Before, 300 clients that sent half a request were all still held 21 s later, one thread each.
Here real sockets send half a request (or drip one byte at a time) and the tests watch the
server's threads (in-process, and ``/proc/PID/status`` for ``conformance serve``) go back down
within the timeout, while a normal request is still answered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests

from conformance.reference.server import ReferenceServer, ReferenceSettings
from tests.suite_runs import conformance_argv

HALF_REQUEST = b"GET /api/photo/get-replace-token?photo_id=123456 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
TOKEN_PATH = "/api/photo/get-replace-token?photo_id=123456"


def _open_half_requests(url: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    socks = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        sock.sendall(HALF_REQUEST)
        socks.append(sock)
    return socks


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has ended this connection (EOF or reset), or answered and closed it."""
    sock.settimeout(0.01)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def _wait_until(condition: Callable[[], bool], limit: float) -> float:
    """Seconds until ``condition()`` held; fails when it did not within ``limit``."""
    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < limit, f"not within {limit}s"
        time.sleep(0.05)
    return time.monotonic() - t0


@contextlib.contextmanager
def _dripping(url: str, count: int) -> Iterator[list[socket.socket]]:
    """Clients that send one more byte of their head every 0.1 s, forever (a slowloris)."""
    socks = _open_half_requests(url, count)
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.1):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b"x")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join()


def test_half_requests_and_dripping_heads_are_cut_at_the_read_timeout() -> None:
    timeout = 1.0
    settings = ReferenceSettings(request_timeout=timeout, max_connections=300)
    with ReferenceServer(settings) as server:
        before = threading.active_count()
        t0 = time.monotonic()
        silent = _open_half_requests(server.base_url, 150)
        with _dripping(server.base_url, 20) as drippers:
            _wait_until(lambda: threading.active_count() >= before + 150, 5)
            answer = requests.get(server.base_url + TOKEN_PATH, timeout=5)  # others are still served
            assert answer.status_code == 200 and "permission" in answer.text
            # Every slow connection is closed once the timeout is up, the dripping ones too.
            _wait_until(lambda: all(_closed_by_server(s) for s in silent + drippers), timeout + 3)
        released = _wait_until(lambda: threading.active_count() <= before + 2, timeout + 3)
        elapsed = time.monotonic() - t0
        assert elapsed < timeout + 4, elapsed
        assert requests.get(server.base_url + TOKEN_PATH, timeout=5).status_code == 200
    for sock in silent + drippers:
        sock.close()
    print(f"170 slow clients released {elapsed:.1f}s after they connected ({released:.1f}s after the check)")


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_serve_caps_connections_and_releases_the_threads(tmp_path: Path) -> None:
    """``conformance serve --request-timeout 1 --max-connections 50`` against 100 half requests."""
    proc = subprocess.Popen(
        conformance_argv("serve", "--quiet", "--request-timeout", "1", "--max-connections", "50"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        idle = _threads(proc.pid)
        socks = _open_half_requests(url, 100)
        _wait_until(lambda: _threads(proc.pid) >= idle + 50, 5)
        assert _threads(proc.pid) <= idle + 50  # one thread per connection, never more than the cap
        busy = requests.get(url + TOKEN_PATH, timeout=5)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        refused = sum(_closed_by_server(s) for s in socks)
        assert refused >= 50  # over the cap: answered 503 and closed at once
        _wait_until(lambda: _threads(proc.pid) <= idle, 4)  # the held 50 are cut after 1 s
        assert requests.get(url + TOKEN_PATH, timeout=5).status_code == 200
    finally:
        for sock in socks:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
