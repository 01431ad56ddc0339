"""The signed HTTP client: signs with OAuth 1.0a (oauthlib), sends politely, records every exchange.

Every request the suite makes goes through :class:`TargetClient`, so the request budget, the
requests-per-second cap, the body-size cap, the per-request timeout, the run deadline and the
redaction of secrets hold for every test and under every failure mode of the target.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import requests
from oauthlib import oauth1
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from conformance.config import TargetConfig
from conformance.model.credentials import Credentials
from conformance.model.exchange import ApiRequest, Exchange, Placement, RecordedResponse
from conformance.transport.redaction import (
    BODY_REDACTED as BODY_REDACTED,  # re-exported: callers import it from here
)
from conformance.transport.redaction import REDACTED as REDACTED
from conformance.transport.redaction import Redactor

_MAX_CONSECUTIVE_TRANSPORT_ERRORS = 3
_MAX_RECORDED_FAILURES = 100


class TransportError(Exception):
    """The target gave no usable HTTP answer (timeout, refused, reset, TLS); the test errors."""

    def __init__(self, message: str, kind: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.exchange = exchange


class BudgetExhausted(TransportError):
    """The run's request budget is spent; no more requests are sent to the target."""


@dataclass
class ClientStats:
    sent: int = 0
    retries: int = 0
    transport_errors: int = 0
    timeouts: int = 0
    oversize: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0  # refused before sending: budget spent, run deadline passed, circuit open
    circuit_opened: bool = False
    deadline_exceeded: bool = False
    budget_exhausted: bool = False
    # The first transport failures (which request, what happened), for results.json.
    failures: list[dict[str, Any]] = field(default_factory=list)


class _RateLimiter:
    """A simple shared pacing gate: at most ``rate`` request starts per second (0 = off)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)


class _Watch:
    """The wall-clock deadline of one exchange and the sockets it uses.

    Socket timeouts bound each ``recv``, not the exchange: a server dripping one byte a second
    (into the status line, the headers or the TLS handshake) would never trip them. When the
    deadline passes, the watchdog shuts the sockets down, which ends any blocked read at once.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._finished = False
        self._socks: dict[int, socket.socket] = {}
        self._lock = threading.Lock()

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


class _Watchdog:
    """One daemon thread firing the watches whose deadline has passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> _Watch:
        watch = _Watch(deadline)
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


_WATCHDOG = _Watchdog()
_current = threading.local()  # the _Watch of the exchange this thread is performing


def _watch_socket(sock: Any) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _watch_socket(self.sock)  # a kept-alive connection being reused
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
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


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections whose sockets the watchdog can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def sign(
    cred: Credentials,
    method: str,
    url: str,
    body: str | None,
    headers: dict[str, str],
    placement: Placement,
    *,
    tamper: bool = False,
) -> tuple[str, dict[str, str], str | None]:
    """Sign a request with OAuth 1.0a HMAC-SHA1 via oauthlib, in the given placement."""
    signature_type = {
        "header": oauth1.SIGNATURE_TYPE_AUTH_HEADER,
        "query": oauth1.SIGNATURE_TYPE_QUERY,
        "body": oauth1.SIGNATURE_TYPE_BODY,
    }[placement]
    client = oauth1.Client(
        cred.consumer_key,
        client_secret=cred.consumer_secret + ("-tampered" if tamper else ""),
        resource_owner_key=cred.access_token,
        resource_owner_secret=cred.access_token_secret,
        signature_type=signature_type,
    )
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    if body:
        headers = form if placement == "body" else headers
        uri, signed_headers, signed_body = client.sign(url, method, body, headers)
        return uri, dict(signed_headers), signed_body
    # oauthlib refuses an empty form body; sign without it (the base string is the same).
    bare = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if placement != "body":
        uri, signed_headers, _ = client.sign(url, method, None, bare)
        return (
            uri,
            {**dict(signed_headers), **({"Content-Type": form["Content-Type"]} if method == "POST" else {})},
            body,
        )
    client.signature_type = oauth1.SIGNATURE_TYPE_AUTH_HEADER
    uri, signed_headers, _ = client.sign(url, method, None, bare)
    oauth_params = parse_authorization_header(signed_headers["Authorization"])
    return uri, form, urlencode(oauth_params)


@dataclass(frozen=True)
class NetworkOptions:
    """How requests reach the target: a proxy (or none) and headers an API gateway may need.

    ``proxy`` None means the environment's HTTP(S)_PROXY / NO_PROXY, as every requests-based tool
    does; ``no_proxy`` ignores both. ``headers`` go on every request and count as secrets: their
    values are redacted from everything recorded.
    """

    proxy: str | None = None
    no_proxy: bool = False
    headers: tuple[tuple[str, str], ...] = ()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxies_for(base_url: str, network: NetworkOptions) -> dict[str, str]:
    """The proxies requests should use for the target: none for loopback (the embedded reference)."""
    host = urlsplit(base_url).hostname or ""
    if network.no_proxy or _is_loopback(host):
        return {}
    if network.proxy:
        return {"http": network.proxy, "https": network.proxy}
    return dict(requests.utils.get_environ_proxies(base_url))  # honours NO_PROXY


class TargetClient:
    """Sends API requests to one target; thread-safe; one instance per run."""

    def __init__(self, config: TargetConfig, network: NetworkOptions | None = None) -> None:
        self.config = config
        self.limits = config.limits
        self.network = network or NetworkOptions()
        self.proxies = proxies_for(config.base_url, self.network)
        proxy_password = urlsplit(self.network.proxy).password if self.network.proxy else None
        self.redactor = Redactor(
            [
                *config.secrets(),
                *(v for _, v in self.network.headers),
                *([proxy_password] if proxy_password else []),
            ]
        )
        self.stats = ClientStats()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._rate = _RateLimiter(self.limits.requests_per_second)
        # Circuit breaker: open after consecutive transport failures; one probe per cool-down while open.
        self._consecutive_failures = 0
        self._open_until = 0.0
        self._probing = False
        self._cooldown = max(5.0, 3 * self.limits.timeout_seconds)
        self._deadline = time.monotonic() + self.limits.run_deadline_seconds
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.limits.concurrency))
        self._main_in_flight = 0  # main-thread requests awaiting their answer (see send_built)
        self.interrupt_pending = False  # a Ctrl-C arrived during one: stop once it is answered

    # -- plumbing ---------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no .netrc or env CA bundle; proxies are resolved in proxies_for
            session.proxies = dict(self.proxies)
            session.verify = self.config.ca_bundle or True
            session.headers["User-Agent"] = "twentythree-conformance/0.1"
            session.headers.update(dict(self.network.headers))  # never recorded: not in `headers` below
            session.max_redirects = 5
            adapter = _WatchedAdapter(max_retries=0)  # retries are the client's own: once, counted
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _admit(self) -> None:
        """Enforce budget, deadline and the circuit breaker before a request leaves."""
        with self._lock:
            refusal: TransportError | None = None
            if self.stats.sent >= self.limits.request_budget:
                self.stats.budget_exhausted = True
                refusal = BudgetExhausted(
                    f"request budget of {self.limits.request_budget} requests exhausted; request not sent",
                    "budget",
                )
            elif time.monotonic() > self._deadline:
                self.stats.deadline_exceeded = True
                refusal = TransportError(
                    f"run deadline of {self.limits.run_deadline_seconds:g}s passed; request not sent",
                    "deadline",
                )
            elif self._consecutive_failures >= _MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                if self._probing or time.monotonic() < self._open_until:
                    refusal = TransportError(
                        f"not sent: the target failed {self._consecutive_failures} requests in a row "
                        f"(transport errors); the suite stops hammering it "
                        f"(one probe per {self._cooldown:g}s)",
                        "circuit_open",
                    )
                else:
                    self._probing = True  # half-open: this one request finds out whether the target is back
            if refusal is not None:
                self.stats.not_sent += 1
                raise refusal
            self.stats.sent += 1
        self._rate.wait()
        if time.monotonic() > self._deadline:  # the deadline passed while waiting for a rate slot
            with self._lock:
                self.stats.sent -= 1
                self.stats.not_sent += 1
                self.stats.deadline_exceeded = True
            raise TransportError(
                f"run deadline of {self.limits.run_deadline_seconds:g}s passed; request not sent", "deadline"
            )

    def _note(
        self, ok: bool, kind: str | None = None, exchange: Exchange | None = None, *, counts: bool = True
    ) -> None:
        """Account for an outcome; ``counts=False``: a failure about to be retried (one logical failure)."""
        with self._lock:
            if ok:
                self._consecutive_failures = 0
                self._probing = False
                return
            if counts or self._probing:
                self._consecutive_failures += 1
                if self._consecutive_failures >= _MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                    self.stats.circuit_opened = True
                    self._open_until = time.monotonic() + self._cooldown
                    self._probing = False
            self.stats.transport_errors += 1
            if kind:
                self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            if kind == "timeout":
                self.stats.timeouts += 1
            if exchange is not None and len(self.stats.failures) < _MAX_RECORDED_FAILURES:
                self.stats.failures.append(
                    {
                        "exchange": exchange.id,
                        "kind": kind,
                        "error": exchange.error,
                        "method": exchange.method,
                        "url": exchange.url,
                        "logical": exchange.request.describe() if exchange.request else None,
                        "retry": exchange.retried,
                    }
                )

    def deadline_passed(self) -> bool:
        """True once the run deadline has passed: nothing more is sent."""
        if time.monotonic() > self._deadline:
            with self._lock:
                self.stats.deadline_exceeded = True
            return True
        return False

    def reset_circuit(self) -> None:
        with self._lock:
            self._consecutive_failures = 0
            self._probing = False

    # -- building ---------------------------------------------------------------------------------
    def build(self, req: ApiRequest) -> tuple[str, str, dict[str, str], str | None]:
        """Return (method, url, headers, body) for a logical request, signed if it asks to be."""
        url = self.config.api_url(req.path)
        params = list(req.params)
        headers: dict[str, str] = {}
        body: str | None = None
        post_query = "?" + urlencode(list(req.query_on_post)) if req.query_on_post else ""
        if req.http_method == "GET":
            if params:
                url += "?" + urlencode(params)
        else:
            if req.sign_query_on_post:
                url += post_query
            body = urlencode(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if req.auth is not None:
            cred = self.config.credentials.get(req.auth)
            if cred is None:
                raise LookupError(f"no [credentials.{req.auth}] configured")
            url, headers, body = sign(
                cred, req.http_method, url, body, headers, req.placement, tamper=req.tamper
            )
            for signature in _signatures_in(url, headers, body):
                self.redactor.add_signature(signature)
        if req.http_method == "POST" and not req.sign_query_on_post and post_query:
            url += (
                post_query  # added after signing: for servers that leave POST queries out of the base string
            )
        return req.http_method, url, headers, body

    # -- sending ----------------------------------------------------------------------------------
    def send(self, req: ApiRequest) -> Exchange:
        """Send a logical request; transport errors raise TransportError.

        Only a connection failure (refused, reset, truncated) is retried, once, signed afresh,
        and counted in ``stats.retries``; timeouts, TLS and protocol errors are not retried.
        """
        built = self.build(req)
        try:
            return self.send_built(req, *built, retryable=True)
        except TransportError as exc:
            if exc.kind not in ("connection",):
                raise
            first = exc
        try:
            return self.send_built(req, *self.build(req), retry=True)  # fresh nonce for the retry
        except TransportError as exc:
            if (
                exc.exchange is None
            ):  # the retry was not sent (breaker, budget, deadline): the cause is the first
                raise first from None
            raise

    def send_many(self, reqs: Sequence[ApiRequest]) -> list[Exchange]:
        """Send independent requests concurrently; order of results matches ``reqs``."""
        if len(reqs) <= 1 or self.limits.concurrency <= 1:
            return [self.send(r) for r in reqs]
        return list(self._pool.map(self.send, reqs))

    def in_flight(self) -> bool:
        """Whether the main thread is waiting for a request's answer right now."""
        return self._main_in_flight > 0

    def send_built(self, req: ApiRequest | None, *args: Any, **kwargs: Any) -> Exchange:
        """See :meth:`_send_built`; a Ctrl-C that arrives meanwhile takes effect once it is answered.

        The SIGINT handler sets ``interrupt_pending`` instead of raising while the main thread is
        in a request, so the target sees a complete exchange, never a connection cut mid-request.
        """
        main = threading.current_thread() is threading.main_thread()
        if main:
            self._main_in_flight += 1
        try:
            return self._send_built(req, *args, **kwargs)
        finally:
            if main:
                self._main_in_flight -= 1
                if self.interrupt_pending and self._main_in_flight == 0:
                    raise KeyboardInterrupt("interrupted after the request in flight was answered")

    def _send_built(
        self,
        req: ApiRequest | None,
        method: str,
        url: str,
        headers: dict[str, str],
        body: str | bytes | None,
        *,
        allow_redirects: bool = False,
        retry: bool = False,
        retryable: bool = False,
    ) -> Exchange:
        """Send exactly this request (used for replays of a signed request, and for redeem).

        The whole exchange (connect, TLS, head, body) must finish within ``timeout_seconds`` of
        wall-clock time and before the run deadline; at most ``max_body_bytes`` are read.
        """
        self._admit()
        if retry:
            with self._lock:
                self.stats.retries += 1
        body_text = body if isinstance(body, str) else (body or b"")[:4096].decode("utf-8", "replace")
        exchange = Exchange(
            id=next(self._ids),
            request=req,
            method=method,
            url=self.redactor.scrub(url, short=False),
            request_headers=[(k, self.redactor.scrub(v, short=False)) for k, v in headers.items()],
            request_body=self.redactor.scrub(body_text, short=False),
            started_at=time.time(),
            retried=retry,
        )
        timeout = self.limits.timeout_seconds
        t0 = time.monotonic()
        run_left = self._deadline - t0
        limit = max(0.001, min(timeout, run_left))
        by_run_deadline = run_left < timeout
        watch = _WATCHDOG.arm(t0 + limit)
        _current.watch = watch
        phase = "no complete response head"
        try:
            try:
                resp = self._session().request(
                    method,
                    url,
                    headers=headers,
                    data=body.encode("utf-8") if isinstance(body, str) else body,
                    timeout=(limit, limit),
                    stream=True,
                    allow_redirects=allow_redirects,
                )
                phase = f"HTTP {resp.status_code} head received, body incomplete"
                with resp:
                    data, truncated = self._read_capped(resp, t0 + limit)
                    if watch.fired:
                        raise TransportError("", "timeout")
                    exchange.response = RecordedResponse(
                        status=resp.status_code,
                        reason=self.redactor.scrub(resp.reason or "", short=False),
                        headers=[
                            (k, self.redactor.scrub(v, short=False)) for k, v in resp.raw.headers.items()
                        ],
                        body=self.redactor.scrub_bytes(data),
                        truncated=truncated,
                        body_bytes=len(data),
                        elapsed_ms=(time.monotonic() - t0) * 1000,
                    )
            finally:
                _current.watch = None
                watch.finish()
        except Exception as exc:
            if watch.fired or _is_timeout(exc):
                kind, message = (
                    (
                        "deadline",
                        f"run deadline of {self.limits.run_deadline_seconds:g}s passed "
                        "while waiting for the answer",
                    )
                    if by_run_deadline
                    else (
                        "timeout",
                        f"timed out after {limit:g}s without a complete answer "
                        f"({phase}; [limits] timeout_seconds / --timeout)",
                    )
                )
            elif isinstance(exc, TransportError):
                kind, message = exc.kind, str(exc)
            else:
                kind, message = _classify(exc, url, self.config.ca_bundle)
            self._fail(exchange, message, kind, counts=not (retryable and kind == "connection"))
            raise TransportError(exchange.error or kind, kind, exchange) from None
        if exchange.response.truncated:
            with self._lock:
                self.stats.oversize += 1
        exchange.finished_at = time.time()
        self._note(True)
        return exchange

    def _fail(self, exchange: Exchange, message: str, kind: str, *, counts: bool = True) -> None:
        exchange.error = self.redactor.scrub(message, short=False)
        exchange.error_kind = kind
        exchange.finished_at = time.time()
        self._note(False, kind, exchange, counts=counts)

    def _read_capped(self, resp: requests.Response, deadline: float) -> tuple[bytes, bool]:
        """Read at most max_body_bytes (+1 to detect oversize) before the per-request deadline.

        ``read1`` returns whatever arrived (it never waits to fill the buffer), so a dripping
        body is checked against the deadline byte by byte; a read blocked in between is ended
        by the watchdog.
        """
        cap = self.limits.max_body_bytes
        chunks: list[bytes] = []
        total = 0
        raw = resp.raw
        while True:
            if time.monotonic() > deadline:
                raise TransportError("timed out while reading the body", "timeout")
            try:
                chunk = raw.read1(65536, decode_content=True) if hasattr(raw, "read1") else raw.read(65536)
            except Exception as exc:  # urllib3 protocol/decoding errors mid-body
                if _is_timeout(exc):
                    raise TransportError("timed out while reading the body", "timeout") from None
                kind, message = _classify(exc, resp.url, None)
                raise TransportError(f"body could not be read: {message}", kind) from None
            if not chunk:
                return b"".join(chunks), False
            total += len(chunk)
            if total > cap:
                chunks.append(chunk[: len(chunk) - (total - cap)])
                return b"".join(chunks), True
            chunks.append(chunk)

    # -- helpers for specific exchanges ----------------------------------------------------------
    def replay(self, req: ApiRequest, times: int = 2) -> list[Exchange]:
        """Send the very same signed request (same nonce and timestamp) several times."""
        built = self.build(req)
        return [self.send_built(req, *built) for _ in range(times)]

    def post_multipart(
        self, path: str, fields: Sequence[tuple[str, str]], files: dict[str, tuple[str, bytes, str]] | None
    ) -> Exchange:
        """Anonymous multipart POST (redeem); never retried: it changes state on the target."""
        prepared = requests.Request(
            "POST", self.config.api_url(path), data=list(fields), files=files or None
        ).prepare()
        body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
        return self.send_built(None, "POST", prepared.url or "", dict(prepared.headers), body)

    def raw_get(self, url: str) -> Exchange:
        """Unsigned GET of an absolute URL on the target (preflight)."""
        return self.send_built(None, "GET", url, {}, None)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes/contexts and the ``reason``/args exceptions urllib3 wraps."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if e in seen:
            continue
        seen.append(e)
        todo += [
            x
            for x in (e.__cause__, e.__context__, getattr(e, "reason", None))
            if isinstance(x, BaseException)
        ]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return seen


def _is_timeout(exc: BaseException) -> bool:
    return any(
        isinstance(e, TimeoutError | socket.timeout | requests.exceptions.Timeout)
        or "Timeout" in type(e).__name__
        for e in _chain(exc)
    )


def _classify(exc: BaseException, url: str, ca_bundle: str | None) -> tuple[str, str]:
    """(kind, one clear line) for an exception from requests/urllib3/http.client/ssl.

    ``connection`` (refused, reset, closed, truncated) is the only kind retried; ``tls`` and
    ``protocol`` (a malformed answer, redirects) are the target's fault and are not.
    """
    try:
        return _classify_chain(exc, url, ca_bundle)
    except Exception:  # describing an error must never become the error
        return "protocol", f"HTTP error: {type(exc).__name__}"


def _classify_chain(exc: BaseException, url: str, ca_bundle: str | None) -> tuple[str, str]:
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            hint = (
                f"the CA bundle {ca_bundle} does not vouch for it"
                if ca_bundle
                else "trust a private CA with ca_bundle in the config or --ca-bundle FILE; "
                "verification is never switched off"
            )
            return (
                "tls",
                f"TLS certificate verification failed for {where}: {e.verify_message or e.reason} ({hint})",
            )
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return "tls", f"TLS error talking to {where}: {e.reason or _short(e)}"
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "connection", f"connection refused by {where} (nothing listening?)"
        if isinstance(e, socket.gaierror):
            return "connection", f"cannot resolve host {parts.hostname!r}: {e.strerror or e}"
        if isinstance(e, http.client.IncompleteRead):
            got = e.partial if isinstance(e.partial, int) else len(e.partial)
            expected = f", {e.expected} more expected" if e.expected is not None else ""
            return "connection", f"body truncated: the connection closed after {got} bytes{expected}"
        if isinstance(e, ConnectionResetError | BrokenPipeError):
            return "connection", f"connection reset by {where}"
        if isinstance(e, http.client.RemoteDisconnected):
            return "connection", f"{where} closed the connection without answering"
    for e in chain:
        if isinstance(e, http.client.LineTooLong | http.client.BadStatusLine):
            return "protocol", f"malformed HTTP answer from {where}: {type(e).__name__}: {_short(e, 120)}"
        if "Decode" in type(e).__name__:
            return "protocol", f"the body could not be decoded as its Content-Encoding says: {_short(e, 160)}"
        if isinstance(e, requests.exceptions.TooManyRedirects | requests.exceptions.InvalidHeader):
            return "protocol", f"HTTP error: {_short(e, 200)}"
    if any(
        isinstance(
            e, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError | OSError
        )
        for e in chain
    ):
        return "connection", f"connection error with {where}: {_short(chain[-1], 200)}"
    return "protocol", f"HTTP error: {type(exc).__name__}: {_short(exc, 200)}"


def _signatures_in(url: str, headers: dict[str, str], body: str | None) -> list[str]:
    """The oauth_signature values (decoded) a signed request carries, wherever they were placed."""
    found = [unquote(v) for v in re.findall(r'oauth_signature="([^"]*)"', headers.get("Authorization", ""))]
    found += [v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k == "oauth_signature"]
    if body:
        found += [v for k, v in parse_qsl(body, keep_blank_values=True) if k == "oauth_signature"]
    return [f for f in found if f]


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
