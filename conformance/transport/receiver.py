"""The suite's callback receiver: a small HTTP server that records the callbacks a target makes.

With ``background_return_p=1`` the target itself requests ``return_url`` (photo-get-replace-token.md,
Parameters), so the suite must own a URL the target can reach:

- a target on loopback reaches a receiver bound to loopback on an ephemeral port;
- otherwise ``callback_base_url`` (config) is where the target can reach the suite: the receiver
  listens locally on that URL's port (or on ``CONFORMANCE_CALLBACK_LISTEN=host:port`` when a tunnel
  or proxy forwards to a different local port), and each test gives the target
  ``callback_base_url`` + a unique per-test path. A loopback host is bound on loopback, an address
  of this machine on that address; only a name or a foreign address (NAT, tunnel) needs all
  interfaces, and :func:`describe_plan` says so on the console;
- with neither, background tests are skipped with the reason from :func:`plan_receiver`.

The receiver treats what arrives as untrusted: its port is known in advance (it comes from the
config), so anyone can flood it. Only a request whose path carries a live per-test key is kept
(at most ``MAX_PER_KEY`` per key, bodies capped); everything else is answered ``200 ok`` and
dropped unread, counted only as a run warning (:attr:`CallbackReceiver.dropped`), never against
the target.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance.config import ConfigError, TargetConfig, check_callback_listen
from conformance.serving import Served, ServerThread, http_url
from conformance.transport.network import is_loopback

MAX_BODY = 64 * 1024
MAX_PER_KEY = 50  # a conformant target calls back once per test; more is kept for evidence, bounded
CALLBACK_PATH = "/conformance-callback/"
_KEY_IN_PATH = re.compile(re.escape(CALLBACK_PATH) + r"([0-9a-f]{16})(?![0-9a-f])")
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
    why_all_interfaces: str = field(default="", compare=False)  # a wildcard's reason, for the console

    @property
    def all_interfaces(self) -> bool:
        return self.bind_host in ("0.0.0.0", "::", "")


def _is_local_address(host: str) -> bool:
    """Whether ``host`` is an IP address of this machine (binding it succeeds)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:
        return False
    return True


def _bind_for(host: str) -> tuple[str, str]:
    """(interface to bind, reason when it is every interface) for the host a target is told to call."""
    if is_loopback(host):
        v6 = ":" in host and host.strip("[]") != "localhost"
        return ("::1" if v6 else "127.0.0.1"), ""
    if _is_local_address(host):
        return host.strip("[]"), ""
    wildcard = "::" if ":" in host else "0.0.0.0"
    return wildcard, f"callback_base_url host {host!r} is not a loopback or local address of this machine"


def plan_receiver(config: TargetConfig, environ: Mapping[str, str] | None = None) -> ReceiverPlan | str:
    """Decide how the target can reach the suite; a string is the reason it cannot."""
    environ = os.environ if environ is None else environ
    if config.callback_base_url:
        parts = urlsplit(config.callback_base_url)
        public = config.callback_base_url.rstrip("/")
        listen = environ.get(LISTEN_ENV, "").strip()
        if listen:
            try:
                host, port = check_callback_listen(listen, LISTEN_ENV)
            except ConfigError as exc:
                return str(exc)
            bind = host or "0.0.0.0"
            why = f"{LISTEN_ENV}={listen} asks for it" if bind in ("0.0.0.0", "::") else ""
            return ReceiverPlan(bind, port, public, why)
        port_number = parts.port or (443 if parts.scheme == "https" else 80)
        bind, why = _bind_for(parts.hostname or "")
        return ReceiverPlan(bind, port_number, public, why)
    host = urlsplit(config.base_url).hostname or ""
    if is_loopback(host):
        bind = "::1" if ":" in host else "127.0.0.1"
        return ReceiverPlan(bind, 0, None)
    return NO_RECEIVER


def describe_plan(plan: ReceiverPlan | str) -> str | None:
    """The console line for a receiver that listens on every interface (None when it does not)."""
    if isinstance(plan, str) or not plan.all_interfaces:
        return None
    return (
        f"callback receiver listens on all interfaces ({plan.bind_host} port {plan.bind_port}): "
        f"{plan.why_all_interfaces or 'the callback URL needs it'}"
    )


def key_in_path(path: str) -> str | None:
    """The per-test key a callback path carries, if any."""
    m = _KEY_IN_PATH.search(path)
    return m.group(1) if m else None


class CallbackReceiver(Served):
    """A threaded HTTP server keeping the requests made to live per-test endpoints.

    Use as a context manager. ``dropped`` counts requests that carried no live key (or exceeded
    ``MAX_PER_KEY``): a flood of the known port, reported as a warning of the run.
    """

    def __init__(self, plan: ReceiverPlan) -> None:
        self.plan = plan
        self._by_key: dict[str, list[ReceivedRequest]] = {}
        self.dropped = 0
        self.public_base = ""
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10
            server_version = "conformance-receiver"
            sys_version = ""

            def _record(self) -> None:
                key = key_in_path(urlsplit(self.path).path)
                if not receiver._admits(key):
                    receiver._drop()  # unread: junk costs the receiver as little as possible
                else:
                    try:
                        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                    except ValueError:
                        length = 0
                    body = self.rfile.read(length) if length > 0 else b""
                    receiver._add(
                        key or "",
                        ReceivedRequest(
                            method=self.command,
                            target=self.path,
                            headers=tuple(self.headers.items()),
                            body=body,
                            received_at=time.time(),
                            client=str(self.client_address[0]),
                        ),
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
        port = int(self._httpd.server_address[1])
        self.public_base = self.plan.public_base or http_url(self.plan.bind_host, port)
        self._serving = ServerThread(self._httpd, "callback-receiver")
        return self

    def _after_stop(self) -> None:
        self._httpd = None

    def _admits(self, key: str | None) -> bool:
        with self._cond:
            kept = self._by_key.get(key) if key is not None else None
            return kept is not None and len(kept) < MAX_PER_KEY

    def _drop(self) -> None:
        with self._cond:
            self.dropped += 1

    def _add(self, key: str, record: ReceivedRequest) -> None:
        with self._cond:
            kept = self._by_key.get(key)
            if kept is None or len(kept) >= MAX_PER_KEY:
                self.dropped += 1
                return
            kept.append(record)
            self._cond.notify_all()

    @property
    def records(self) -> list[ReceivedRequest]:
        """Every request kept, all keys, in arrival order."""
        with self._cond:
            return sorted((r for rs in self._by_key.values() for r in rs), key=lambda r: r.received_at)

    def summary(self) -> dict[str, object]:
        """What results.json records about the receiver (run section)."""
        host = self.plan.bind_host
        port = self._httpd.server_address[1] if self._httpd is not None else self.plan.bind_port
        with self._cond:
            return {
                "listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "all_interfaces": self.plan.all_interfaces,
                "kept_requests": sum(len(rs) for rs in self._by_key.values()),
                "dropped_requests": self.dropped,
            }

    # -- per-test use --------------------------------------------------------------------------
    def new_endpoint(self) -> tuple[str, str]:
        """(unique id, URL to give the target): the public base plus a path no other test uses.

        From now on requests to that path are kept (the key is live); all others are dropped.
        """
        key = secrets.token_hex(8)
        with self._cond:
            self._by_key[key] = []
        return key, f"{self.public_base}{CALLBACK_PATH}{key}"

    def received(self, key: str) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._by_key.get(key, ()))

    def wait_for(self, key: str, timeout: float, count: int = 1) -> list[ReceivedRequest]:
        """Wait until ``count`` requests for ``key`` arrived (or the timeout); returns what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = list(self._by_key.get(key, ()))
                remaining = deadline - time.monotonic()
                if len(got) >= count or remaining <= 0:
                    return got
                self._cond.wait(remaining)
