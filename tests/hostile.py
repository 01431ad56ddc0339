"""Real misbehaving HTTP(S) servers on loopback, for the robustness tests.

The suite runs against servers nobody has vetted, so its robustness is only proven against real
sockets doing the wrong thing: resets, truncated bodies, endless or dripping answers, XML
attacks, garbage, reflected credentials. A :class:`HostileServer` records every request it gets
(so a test can count them, time them and learn the OAuth signatures the suite sent) and answers
each with a *behaviour*: a function of the request that either misbehaves or proxies to a
correct upstream (the embedded reference server), so a run still reaches the deep checks.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from conformance.model.credentials import Credentials
from conformance.reference import ReferenceServer, ReferenceSettings
from tests.suite_runs import conformance_argv

GET_TOKEN = "/api/photo/get-replace-token"
PHOTO_ID = "123456"
_SIG_IN_HEADER = re.compile(r'oauth_signature="([^"]*)"')


# ------------------------------------------------------------------ what the server received
@dataclass
class Received:
    """One request as it arrived on the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float  # time.monotonic() when the request line was read

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def params(self) -> list[tuple[str, str]]:
        """Query and form-body parameters, decoded."""
        pairs = parse_qsl(urlsplit(self.target).query, keep_blank_values=True)
        if self.body and "form-urlencoded" in (self.header("Content-Type") or ""):
            pairs += parse_qsl(self.body.decode("latin-1"), keep_blank_values=True)
        return pairs

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def signatures(self) -> set[str]:
        """Every oauth_signature this request carried, decoded (header, query or body)."""
        found = {unquote(m) for m in _SIG_IN_HEADER.findall(self.header("Authorization") or "")}
        found |= {v for k, v in self.params if k == "oauth_signature"}
        return {s for s in found if s}


class Ctx:
    """A behaviour's handle on one request: read it, proxy it, or write anything to the socket."""

    def __init__(self, handler: _Handler, req: Received) -> None:
        self.handler = handler
        self.req = req
        self.server: HostileServer = handler.server.hostile  # type: ignore[attr-defined]
        self.wfile = handler.wfile

    # -- well-behaved answers
    def proxy(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """Forward the request unchanged (Host included, so signatures verify) to the upstream."""
        upstream = self.server.upstream
        assert upstream is not None, "this behaviour needs an upstream server"
        parts = urlsplit(upstream.base_url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            headers = {k: v for k, v in self.req.headers if k.lower() not in ("connection", "content-length")}
            conn.request(self.req.method, self.req.target, body=self.req.body or None, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            kept = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "server")
            ]
            return resp.status, kept, body
        finally:
            conn.close()

    def forward(self) -> None:
        """Answer with exactly what the upstream answered."""
        status, headers, body = self.proxy()
        self.respond(body, status=status, headers=headers)

    def respond(
        self,
        body: bytes | Iterable[bytes],
        *,
        status: int = 200,
        headers: Iterable[tuple[str, str]] = (("Content-Type", "text/xml; charset=utf-8"),),
        content_length: int | None = -1,
    ) -> None:
        """Send a response; ``content_length=-1`` means the real length, None means none (close)."""
        self.handler.send_response_only(status)
        for k, v in headers:
            self.handler.send_header(k, v)
        if isinstance(body, bytes) and content_length == -1:
            content_length = len(body)
        if content_length is not None and content_length >= 0:
            self.handler.send_header("Content-Length", str(content_length))
        else:
            self.handler.close_connection = True
            self.handler.send_header("Connection", "close")
        self.handler.end_headers()
        chunks = [body] if isinstance(body, bytes) else body
        for chunk in chunks:
            if self.server.stopping.is_set():
                break
            self.wfile.write(chunk)
        self.wfile.flush()

    # -- misbehaviour
    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def reset(self) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0), mid-exchange."""
        sock = self.handler.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.close(sock)  # not the TLS close: no close_notify, just the RST

    def hang(self, seconds: float = 3600.0) -> None:
        """Say nothing for ``seconds`` (or until the server stops)."""
        self.server.stopping.wait(seconds)
        self.handler.close_connection = True

    def drip(self, data: bytes, interval: float = 1.0) -> None:
        """Write ``data`` one byte per ``interval`` seconds (a slowloris in reverse)."""
        for i in range(len(data)):
            if self.server.stopping.wait(interval):
                break
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
        self.handler.close_connection = True


Behaviour = Callable[[Ctx], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Received(self.command, self.path, list(self.headers.items()), body, time.monotonic())
        hostile: HostileServer = self.server.hostile  # type: ignore[attr-defined]
        with hostile.lock:
            hostile.received.append(req)
        try:
            hostile.behaviour(Ctx(self, req))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True  # the client gave up: exactly what some tests want

    do_GET = do_POST = do_PUT = do_HEAD = _serve  # http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:  # silence
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    hostile: HostileServer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:  # handshake lazily, in the handler thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # handshake failures and resets are the point of these servers


class HostileServer:
    """A real HTTP(S) server on 127.0.0.1 with one behaviour for every request; a context manager.

    With ``upstream=True`` a reference server with ``credentials`` is started behind it
    (``public_url`` = this server, so signatures made for this origin verify there) and
    behaviours can :meth:`Ctx.forward` to it.
    """

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        upstream: bool = False,
        credentials: dict[str, Credentials] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.hostile = self
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.tls = ctx
        port = self._httpd.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.upstream: ReferenceServer | None = None
        if upstream:
            self.upstream = ReferenceServer(
                ReferenceSettings(public_url=self.base_url, credentials=credentials)
            )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hostile-server",
            daemon=True,
        )

    def __enter__(self) -> HostileServer:
        if self.upstream is not None:
            self.upstream.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self.upstream is not None:
            self.upstream.stop()

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def signatures(self) -> set[str]:
        with self.lock:
            return {s for r in self.received for s in r.signatures()}


# ------------------------------------------------------------------ behaviours
def when(predicate: Callable[[Received], bool], bad: Behaviour, good: Behaviour | None = None) -> Behaviour:
    """Misbehave on the requests ``predicate`` picks; forward the others to the upstream."""

    def behaviour(ctx: Ctx) -> None:
        (bad if predicate(ctx.req) else (good or Ctx.forward))(ctx)

    return behaviour


def cycle(*behaviours: Behaviour) -> Behaviour:
    """The n-th request gets behaviour n modulo len: several attacks in one run."""

    def behaviour(ctx: Ctx) -> None:
        with ctx.server.lock:
            n = len(ctx.server.received) - 1
        behaviours[n % len(behaviours)](ctx)

    return behaviour


def after(count: int, bad: Behaviour) -> Behaviour:
    """Behave (forward) for the first ``count`` requests, then misbehave for good."""

    def behaviour(ctx: Ctx) -> None:
        with ctx.server.lock:
            n = len(ctx.server.received)
        (ctx.forward if n <= count else lambda: bad(ctx))()

    return behaviour


def api_only(req: Received) -> bool:
    """Every API call (preflight included): a target that always misbehaves."""
    return req.target.startswith("/api/")


def signed_json(req: Received) -> bool:
    """Signed format=json requests: the preflight (signed XML, no format) and XML tests still work."""
    return req.param("format") == "json" and (
        req.header("Authorization") is not None or req.param("oauth_signature") is not None
    )


def fixed(body: bytes, content_type: str = "text/xml; charset=utf-8", status: int = 200) -> Behaviour:
    return lambda ctx: ctx.respond(body, status=status, headers=[("Content-Type", content_type)])


def endless(
    chunk: bytes = b"<a>" + b"x" * 65530 + b"</a>",
    total: int = 600 * 1024 * 1024,
    declare_length: bool = True,
) -> Behaviour:
    """A body of ``total`` bytes streamed from a generator (never allocated), XML-looking."""

    def gen() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="utf-8"?><response status="ok">'
        sent = 0
        while sent < total:
            yield chunk
            sent += len(chunk)

    return lambda ctx: ctx.respond(gen(), content_length=total if declare_length else None)


def gzip_bomb(total: int = 512 * 1024 * 1024) -> Behaviour:
    """A ~0.5 MB gzip body inflating to ``total`` bytes (Content-Encoding: gzip, multi-member)."""
    member = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)
    data = gzip.compress(b'<response status="ok">') + member * (total // (8 * 1024 * 1024))
    return lambda ctx: ctx.respond(data, headers=[("Content-Type", "text/xml"), ("Content-Encoding", "gzip")])


def slow(seconds: float) -> Behaviour:
    """Answer correctly, but only after ``seconds``."""

    def behaviour(ctx: Ctx) -> None:
        ctx.hang(seconds)
        if not ctx.server.stopping.is_set():
            ctx.handler.close_connection = False
            ctx.forward()

    return behaviour


def drip_headers(ctx: Ctx) -> None:
    """The status line and headers one byte per second, forever (never a complete head)."""
    ctx.drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100000 + b"\r\n", interval=1.0)


def drip_body(ctx: Ctx) -> None:
    """Complete headers at once, then a 1 MB body one byte per second."""
    ctx.handler.send_response_only(200)
    ctx.handler.send_header("Content-Type", "text/xml")
    ctx.handler.send_header("Content-Length", "1000000")
    ctx.handler.end_headers()
    ctx.wfile.flush()
    ctx.drip(b'<response status="ok">' + b" " * 999000, interval=1.0)


def stream_body(ctx: Ctx) -> None:
    """Complete headers at once, then 8 KB every 0.1 ms for as long as the client reads: a busy reader
    that notices a passed deadline itself before the watchdog thread gets to run."""
    ctx.handler.send_response_only(200)
    ctx.handler.send_header("Content-Type", "text/xml")
    ctx.handler.send_header("Content-Length", str(10**12))
    ctx.handler.end_headers()
    ctx.handler.close_connection = True
    while not ctx.server.stopping.wait(0.0001):
        try:
            ctx.wfile.write(b" " * 8192)
            ctx.wfile.flush()
        except OSError:
            return


def header_flood(count: int = 95, size: int = 65_000) -> Behaviour:
    """The upstream's answer with ``count`` headers of ``size`` bytes added: about 6 MB of head per
    answer, within ``http.client``'s own limits (100 lines of 64 KiB)."""
    flood = [(f"X-Flood-{i}", "f" * size) for i in range(count)]

    def behaviour(ctx: Ctx) -> None:
        status, headers, body = ctx.proxy()
        ctx.respond(body, status=status, headers=[*headers, *flood])

    return behaviour


def truncated(ctx: Ctx) -> None:
    """Content-Length larger than the body, then a clean close (FIN): the body is cut short."""
    status, headers, body = ctx.proxy()
    ctx.respond(body[: len(body) // 2], status=status, headers=headers, content_length=len(body) + 1000)
    ctx.handler.close_connection = True
    with contextlib.suppress(OSError):
        ctx.handler.connection.shutdown(socket.SHUT_WR)


def reset(ctx: Ctx) -> None:
    ctx.reset()


def _entities(text: str) -> str:
    return "".join(f"&#x{ord(c):x};" for c in text)


def reflect(ctx: Ctx) -> None:
    """A failing (but well-formed) answer reflecting the request in many encodings.

    The Authorization header, URL and body come back raw, HTML-escaped, JSON-escaped, percent-
    decoded, and the bare signatures raw, slash-escaped, entity-encoded character by character
    and \\u-escaped, in the body, in a header and in the status reason.
    """
    auth = ctx.req.header("Authorization") or ""
    seen = f"{ctx.req.method} {ctx.req.target} | {auth} | {ctx.req.body.decode('latin-1')}"
    sigs = sorted(ctx.req.signatures())
    forms = [
        seen,
        seen.replace("\\", "\\\\").replace('"', '\\"').replace("/", "\\/"),
        unquote(seen),
        " ".join(sigs),
        " ".join(s.replace("/", "\\/") for s in sigs),
        " ".join(_entities(s) for s in sigs),
        " ".join("".join(f"\\u{ord(c):04x}" for c in s) for s in sigs),
        "<script>alert(document.cookie)</script>",
    ]
    message = " || ".join(forms)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<response status="error" code="reflected" message='
        + quoteattr(message)
        + ' permission_level="write"><echo>'
        + escape(message)
        + "</echo><raw>"
        + " ".join(_entities(s) for s in sigs)
        + "</raw></response>"
    )
    header_safe = seen.replace("\r", " ").replace("\n", " ")
    ctx.handler.send_response_only(200, f"OK {' '.join(sigs)}")
    for k, v in (
        ("Content-Type", "text/xml; charset=utf-8"),
        ("X-Echo", header_safe),
        ("Content-Length", str(len(body.encode()))),
    ):
        ctx.handler.send_header(k, v)
    ctx.handler.end_headers()
    ctx.raw(body.encode("utf-8"))


# ------------------------------------------------------------------ XML attacks
def xxe_file(path: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE response [<!ENTITY leak SYSTEM "file://{path}">]>\n'
        f'<response status="ok"><replace_token>&leak;</replace_token></response>'
    ).encode()


def xxe_network(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE response SYSTEM "{url}/dtd">\n'
        f'<response status="ok"><replace_token>&ext;</replace_token></response>'
    ).encode()


def xxe_parameter(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE response [<!ENTITY % remote SYSTEM "{url}/param"> %remote;]>\n'
        '<response status="ok"/>'
    ).encode()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<response status="ok"><replace_token>&lol9;</replace_token></response>'
)

QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "'
    + b"A" * 50000
    + b'">]>\n<response status="ok">'
    + b"&a;" * 20000
    + b"</response>"
)

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><script>alert(1)</script></body></html>"
)


class Canary:
    """A loopback listener that counts any connection: an XXE fetch would show up here."""

    def __init__(self) -> None:
        self.hits = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits += 1
            conn.close()

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


# ------------------------------------------------------------------ TLS material
def self_signed_cert(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed cert for 127.0.0.1 made with the openssl CLI; None when unavailable."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    proc = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return (cert, key) if proc.returncode == 0 and cert.exists() else None


# ------------------------------------------------------------------ running the suite against it
def distinctive_credentials(tag: str = "") -> dict[str, Credentials]:
    """Credentials whose secrets are easy to grep for (and appear nowhere else)."""
    salt = os.urandom(4).hex()
    return {
        level: Credentials(
            level=level,
            consumer_key=f"ck-{level}{tag}-{salt}",
            consumer_secret=f"CSECRET{level.upper()}{tag}zq{salt}Xy",
            access_token=f"at-{level}{tag}-{salt}",
            access_token_secret=f"TSECRET{level.upper()}{tag}zq{salt}Xy",
        )
        for level in ("read", "write", "admin")
    }


def secret_env(creds: dict[str, Credentials]) -> dict[str, str]:
    """Environment variables carrying the secrets, as a target config's ``env:NAME`` expects."""
    out: dict[str, str] = {}
    for level, c in creds.items():
        out[f"HOSTILE_{level.upper()}_CONSUMER_SECRET"] = c.consumer_secret
        out[f"HOSTILE_{level.upper()}_TOKEN_SECRET"] = c.access_token_secret
    return out


def write_config(
    path: Path,
    base_url: str,
    creds: dict[str, Credentials],
    *,
    limits: dict[str, float] | None = None,
    ca_bundle: Path | None = None,
) -> Path:
    """A target TOML for ``base_url``; secrets only as ``env:NAME`` references."""
    lines = [f'base_url = "{base_url}"', f'photo_id = "{PHOTO_ID}"', 'unknown_photo_id = "999999999"']
    if ca_bundle is not None:
        lines.append(f'ca_bundle = "{ca_bundle}"')
    for level, c in creds.items():
        lines += [
            f"[credentials.{level}]",
            f'consumer_key = "{c.consumer_key}"',
            f'consumer_secret = "env:HOSTILE_{level.upper()}_CONSUMER_SECRET"',
            f'access_token = "{c.access_token}"',
            f'access_token_secret = "env:HOSTILE_{level.upper()}_TOKEN_SECRET"',
        ]
    if limits:
        lines.append("[limits]")
        lines += [f"{k} = {v}" for k, v in limits.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class RunOutcome:
    """What one ``conformance run`` subprocess did."""

    code: int
    elapsed: float
    max_rss_kb: int
    stdout: str
    stderr: str
    report_dir: Path
    cwd: Path
    results: dict[str, Any] = field(default_factory=dict)

    def tests(self, verdict: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.results.get("tests", []) if verdict is None or t["verdict"] == verdict]

    def texts(self) -> str:
        """Every finding, message and error of the run, as one searchable text."""
        parts: list[str] = []
        for t in self.tests():
            parts.append(t.get("message", ""))
            for f in t.get("findings", []):
                parts += [f.get("message", ""), f.get("observed", "")]
                ex = f.get("exchange") or {}
                parts.append(str(ex.get("error") or ""))
        return "\n".join(parts)


class _HighWaterMark:
    """The child's own peak RSS after exec, polled from /proc/PID/status (VmHWM).

    ``wait4``'s ru_maxrss also counts the moment between fork and exec, when the child still maps
    the parent's memory: a test process grown large over a long session inflates it.
    """

    def __init__(self, pid: int) -> None:
        self.kb = 0
        self._path = Path(f"/proc/{pid}/status")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(0.02):
            try:
                text = self._path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kb = max(self.kb, int(line.split()[1]))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_conformance(
    tmp: Path,
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    hard_timeout: float = 60.0,
    quiet: bool = True,
) -> RunOutcome:
    """Run ``python -m conformance run`` in a fresh cwd; measure its own peak RSS with wait4.

    ``os.wait4`` gives this child's own rusage (``RUSAGE_CHILDREN`` would be the maximum over
    every child the test process ever waited for). ``hard_timeout`` kills a run that hangs.
    """
    import json

    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    report_dir = tmp / "report"
    out_path, err_path = tmp / "stdout.txt", tmp / "stderr.txt"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    t0 = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            conformance_argv(
                *("run", "--config", str(config), "--report-dir", str(report_dir), "--seed", "1"),
                *(["--quiet"] if quiet else []),
                *args,
            ),
            cwd=cwd,
            env=full_env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        killer = threading.Timer(hard_timeout, lambda: _kill(proc.pid))
        killer.start()
        peak = _HighWaterMark(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            peak.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - t0
    results_path = report_dir / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    return RunOutcome(
        proc.returncode,
        elapsed,
        peak.kb or usage.ru_maxrss,
        out_path.read_text("utf-8", "replace"),
        err_path.read_text("utf-8", "replace"),
        report_dir,
        cwd,
        results,
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
