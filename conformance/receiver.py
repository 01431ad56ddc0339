"""The suite's callback receiver: a small HTTP server that records the callbacks a target makes.

With ``background_return_p=1`` the target itself requests ``return_url`` (photo-get-replace-token.md,
Parameters), so the suite must own a URL the target can reach:

- a target on loopback reaches a receiver bound to loopback on an ephemeral port;
- otherwise ``callback_base_url`` (config) is where the target can reach the suite: the receiver
  listens locally on that URL's port on all interfaces (or on ``CONFORMANCE_CALLBACK_LISTEN=host:port``
  when a tunnel or proxy forwards to a different local port), and each test gives the target
  ``callback_base_url`` + a unique per-test path;
- with neither, background tests are skipped with the reason from :func:`plan_receiver`.

The receiver treats what arrives as untrusted: bodies are capped, the record list is bounded,
and it answers every request with a short ``200 ok``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance.config import TargetConfig

MAX_BODY = 64 * 1024
MAX_RECORDS = 1000
LISTEN_ENV = "CONFORMANCE_CALLBACK_LISTEN"
NO_RECEIVER = (
    "no callback receiver the target can reach: the target is not on loopback and callback_base_url "
    "is not set in the config"
)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the receiver got, as it arrived."""

    method: str
    target: str  # the request-target: path and query, as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float
    client: str

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)


@dataclass(frozen=True)
class ReceiverPlan:
    """Where to listen and the URL prefix the target is given."""

    bind_host: str
    bind_port: int
    public_base: str | None  # None: derived from the bound port (loopback)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plan_receiver(config: TargetConfig, environ: Mapping[str, str] | None = None) -> ReceiverPlan | str:
    """Decide how the target can reach the suite; a string is the reason it cannot."""
    environ = os.environ if environ is None else environ
    if config.callback_base_url:
        parts = urlsplit(config.callback_base_url)
        listen = environ.get(LISTEN_ENV, "").strip()
        if listen:
            host, _, port = listen.rpartition(":")
            if not port.isdigit():
                return f"{LISTEN_ENV} must be host:port, got {listen!r}"
            return ReceiverPlan(
                host.strip("[]") or "0.0.0.0", int(port), config.callback_base_url.rstrip("/")
            )
        port_number = parts.port or (443 if parts.scheme == "https" else 80)
        return ReceiverPlan("0.0.0.0", port_number, config.callback_base_url.rstrip("/"))
    host = urlsplit(config.base_url).hostname or ""
    if _is_loopback(host):
        bind = "::1" if ":" in host else "127.0.0.1"
        return ReceiverPlan(bind, 0, None)
    return NO_RECEIVER


class CallbackReceiver:
    """A threaded HTTP server recording every request; use as a context manager."""

    def __init__(self, plan: ReceiverPlan) -> None:
        self.plan = plan
        self.records: list[ReceivedRequest] = []
        self.public_base = ""
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10
            server_version = "conformance-receiver"
            sys_version = ""

            def _record(self) -> None:
                try:
                    length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                except ValueError:
                    length = 0
                body = self.rfile.read(length) if length > 0 else b""
                receiver._add(
                    ReceivedRequest(
                        method=self.command,
                        target=self.path,
                        headers=tuple(self.headers.items()),
                        body=body,
                        received_at=time.time(),
                        client=str(self.client_address[0]),
                    )
                )
                reply = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_POST = do_HEAD = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        family_v6 = ":" in self.plan.bind_host

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if family_v6 else socket.AF_INET

        self._httpd = Server((self.plan.bind_host, self.plan.bind_port), Handler)
        port = self._httpd.server_address[1]
        if self.plan.public_base:
            self.public_base = self.plan.public_base
        else:
            host = f"[{self.plan.bind_host}]" if family_v6 else self.plan.bind_host
            self.public_base = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="callback-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _add(self, record: ReceivedRequest) -> None:
        with self._cond:
            if len(self.records) < MAX_RECORDS:
                self.records.append(record)
            self._cond.notify_all()

    # -- per-test use --------------------------------------------------------------------------
    def new_endpoint(self) -> tuple[str, str]:
        """(unique id, URL to give the target): the public base plus a path no other test uses."""
        key = secrets.token_hex(8)
        return key, f"{self.public_base}/conformance-callback/{key}"

    def received(self, key: str) -> list[ReceivedRequest]:
        with self._cond:
            return [r for r in self.records if f"/conformance-callback/{key}" in r.path]

    def wait_for(self, key: str, timeout: float, count: int = 1) -> list[ReceivedRequest]:
        """Wait until ``count`` requests for ``key`` arrived (or the timeout); returns what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.records if f"/conformance-callback/{key}" in r.path]
                remaining = deadline - time.monotonic()
                if len(got) >= count or remaining <= 0:
                    return got
                self._cond.wait(remaining)
