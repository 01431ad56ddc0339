"""The embedded reference server: settings, lifecycle, and the target config it describes."""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from conformance.model.credentials import CREDENTIAL_KEYS, CREDENTIAL_LEVELS, Credentials
from conformance.serving import BoundedConnections, DeadlineReader, Served, ServerThread

from .app import ReferenceApp
from .behaviour import Behaviour
from .clock import Clock
from .context import Context
from .selection import behaviour_for
from .store import Store
from .variants import VARIANTS

"""The levels the reference issues credentials for (the suite's target config needs these three)."""
UNKNOWN_PHOTO_ID = "999999999"

__all__ = ["Credentials", "ReferenceServer", "ReferenceSettings", "write_target_config"]


@dataclass
class ReferenceSettings:
    """How to run the reference server (see docs/ARCHITECTURE.md for the positions it takes)."""

    host: str = "127.0.0.1"
    port: int = 0
    db_path: str | None = None  # None -> a temp file deleted on stop; a path persists across restarts
    public_url: str | None = None  # e.g. "https://videos.example.com" behind a TLS-terminating proxy
    trust_proxy: bool = False  # honour X-Forwarded-Proto / X-Forwarded-Host / X-Forwarded-Port
    bounds_policy: Literal["clamp", "reject"] = "clamp"
    clock_control: bool = False  # enables the /_test/ hooks (clock, photo and token inspection)
    photo_id: str = "123456"
    credentials: dict[str, Credentials] | None = None  # level -> credentials; random if None
    faults: frozenset[str] = field(default_factory=frozenset)
    variant: str | None = None
    log_requests: bool = False  # access log on stderr (the serve command turns it on)
    request_timeout: float = 30.0  # seconds for a request's head and body to arrive (wall clock)
    max_connections: int = 128  # served at once; more are refused with 503 and Retry-After


_SIGNATURE_IN_LOG = re.compile(r"(oauth_signature(?:=|%3D|%253D))[^&\s\"']*", re.IGNORECASE)


def redact_log_line(text: str) -> str:
    """An access-log line without ``oauth_signature`` values (a signature is a bearer credential)."""
    return _SIGNATURE_IN_LOG.sub(r"\1<redacted>", text)


class _Handler(WSGIRequestHandler):
    """Leaves the ``Date`` header to the application, which stamps it from the API clock.

    Its log lines (access log and errors, which quote the request line) never show a signature.
    """

    _deadline = 0.0  # when the request being read must have arrived (time.monotonic)

    def setup(self) -> None:
        super().setup()
        timeout = float(getattr(self.server, "request_timeout", ReferenceSettings.request_timeout))
        self.connection.settimeout(timeout)
        # Head and body are read through a reader that ends every read at the request's deadline.
        self.rfile.close()  # the plain socket file setup() made: let go of its hold on the socket
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, lambda: self._deadline, timeout))

    def handle_one_request(self) -> None:
        """Each request on the connection (and the wait for it) gets the read timeout afresh."""
        timeout = float(getattr(self.server, "request_timeout", ReferenceSettings.request_timeout))
        self._deadline = time.monotonic() + timeout
        super().handle_one_request()

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        super().log(type, "%s", redact_log_line(text))

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if getattr(self.server, "log_requests", False):
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        if getattr(self.server, "log_requests", False):
            super().log_error(format, *args)


class _BoundedServer(BoundedConnections, ThreadedWSGIServer):
    """werkzeug's threaded server with a cap on concurrent connections (daemon threads).

    The listen backlog is deeper than werkzeug's 128, so a burst of connections is accepted (and
    served or refused) at once instead of waiting out the clients' SYN retries.
    """

    request_queue_size = 1024


def _random_credentials(level: str) -> dict[str, str]:
    return {
        "consumer_key": f"{level}-{secrets.token_hex(8)}",
        "consumer_secret": secrets.token_urlsafe(30),
        "access_token": f"{level}-token-{secrets.token_hex(8)}",
        "access_token_secret": secrets.token_urlsafe(30),
    }


class ReferenceServer(Served):
    """A real HTTP server on a background thread; use as a context manager."""

    def __init__(self, settings: ReferenceSettings | None = None) -> None:
        self.settings = settings or ReferenceSettings()
        self._server: BaseWSGIServer | None = None
        self._temp_db: str | None = None
        self.store: Store | None = None
        self.credentials: dict[str, Credentials] = {}
        self.base_url = ""
        self.behaviour: Behaviour | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ReferenceServer:
        s = self.settings
        behaviour = behaviour_for(s.faults, s.variant, s.bounds_policy)  # validates the names first
        if s.variant is not None:  # a variant may need another setup (a short photo_id, say)
            self.settings = s = replace(s, **VARIANTS[s.variant].settings)
        db_path = s.db_path
        if db_path is None:
            fd, db_path = tempfile.mkstemp(prefix="conformance-reference-", suffix=".sqlite3")
            os.close(fd)
            self._temp_db = db_path
        self.store = Store(db_path)
        clock = Clock(self.store)
        problem = clock.check_offset()
        if problem:  # a bad offset from an earlier run must not break every answer
            print(f"reference: {problem}", file=sys.stderr)
        self.credentials = self._load_credentials(self.store)
        self.store.seed_photo(s.photo_id)
        self.behaviour = behaviour
        ctx = Context(
            store=self.store,
            clock=clock,
            behaviour=behaviour,
            credentials=dict(self.credentials),
            public_url=s.public_url,
            test_hooks=s.clock_control,
        )
        app: Any = ReferenceApp(ctx)
        if s.trust_proxy:
            app = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1)
        self._server = _BoundedServer(s.host, s.port, app, _Handler)
        self._server.log_requests = s.log_requests  # type: ignore[attr-defined]
        self._server.request_timeout = s.request_timeout  # type: ignore[attr-defined]
        self._server.max_connections = s.max_connections
        self._serving = ServerThread(self._server, "reference-server")
        self.base_url = self._serving.url
        return self

    def _after_stop(self) -> None:
        self._server = None
        if self._temp_db is not None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._temp_db + suffix)
            self._temp_db = None

    def _load_credentials(self, store: Store) -> dict[str, Credentials]:
        """Given credentials win; otherwise reuse the database's, or generate and persist new ones."""
        if self.settings.credentials:
            raw = {level: c.as_table() for level, c in self.settings.credentials.items()}
            store.save_credentials(raw)
        else:
            raw = store.load_credentials()
            if set(raw) != set(CREDENTIAL_LEVELS):
                raw = {level: _random_credentials(level) for level in CREDENTIAL_LEVELS}
                store.save_credentials(raw)
        return {
            level: Credentials(level=level, **{key: c[key] for key in CREDENTIAL_KEYS})
            for level, c in raw.items()
        }

    # -- description --------------------------------------------------------------------------
    @property
    def public_base_url(self) -> str:
        return (self.settings.public_url or self.base_url).rstrip("/")

    def target_config(self) -> dict[str, Any]:
        """The suite's target config for this server (same shape as the TOML file, real secrets)."""
        base = self.public_base_url
        config: dict[str, Any] = {
            "base_url": base,
            "photo_id": self.settings.photo_id,
            "unknown_photo_id": UNKNOWN_PHOTO_ID,
            "destructive": True,
            "callback_base_url": "",
            "clock_control_url": f"{base}/_test/clock" if self.settings.clock_control else "",
            "bounds_policy": self.settings.bounds_policy,
            "credentials": {level: c.as_table() for level, c in sorted(self.credentials.items())},
        }
        if self.behaviour is not None:  # what the server really does (a variant may reject, say)
            config["bounds_policy"] = self.behaviour.bounds_policy
        if self.settings.variant is not None:
            config.update(VARIANTS[self.settings.variant].target_config())
        return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def write_target_config(server: ReferenceServer, path: str | os.PathLike[str], **overrides: Any) -> None:
    """Write the server's target config as TOML (hand-written: the stdlib only reads TOML).

    ``overrides`` replace top-level keys; a dict value (``limits={...}``) becomes a table.
    """
    config = {**server.target_config(), **overrides}
    lines = ["# Target config for the embedded reference server (contains live secrets)."]
    tables = {k: v for k, v in config.items() if isinstance(v, dict) and k != "credentials"}
    for key, value in config.items():
        if key != "credentials" and key not in tables:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    for level, creds in config["credentials"].items():
        lines.append("")
        lines.append(f"[credentials.{level}]")
        for key, value in creds.items():
            lines.append(f"{key} = {_toml_value(value)}")
    target = Path(path)
    # Created 0600 from the start (it holds live secrets): no moment where others could read it.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    try:
        target.chmod(0o600)  # an existing file keeps its mode through O_CREAT: tighten it
    except OSError:  # pragma: no cover - e.g. unusual filesystems
        print(f"warning: could not restrict permissions of {target}", file=sys.stderr)
