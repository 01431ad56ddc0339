"""The signed HTTP client: builds, signs and sends every request, and records every exchange.

Every request the suite makes goes through :class:`TargetClient`, so the request budget, the
requests-per-second cap and the circuit breaker (:mod:`.pacing`), the per-request wall-clock
timeout (:mod:`.watchdog`), the body-size cap, the run deadline and the redaction of secrets
(:mod:`.redaction`) hold for every test and under every failure mode of the target.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest, Exchange, RecordedResponse
from conformance.transport.errors import TransportError, caused_by, classify, is_timeout
from conformance.transport.headers import HeadTooLarge, header_cap
from conformance.transport.network import NetworkOptions, proxies_for
from conformance.transport.pacing import ClientStats, Pacer
from conformance.transport.reading import Window, read_capped
from conformance.transport.redaction import Redactor
from conformance.transport.signing import sign, signatures_in
from conformance.transport.watchdog import WATCHDOG, WatchedAdapter


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
        self.pacer = Pacer(self.limits)
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.limits.concurrency))
        self._main_in_flight = 0  # main-thread requests awaiting their answer (see send_built)
        self.interrupt_pending = False  # a Ctrl-C arrived during one: stop once it is answered
        self.observers: list[Callable[[Exchange], None]] = []  # told of every exchange that ended

    @property
    def stats(self) -> ClientStats:
        """What the run sent and what failed (results.json); kept by the pacer."""
        return self.pacer.stats

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
            adapter = WatchedAdapter(max_retries=0)  # retries are the client's own: once, counted
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def deadline_passed(self) -> bool:
        """True once the run deadline has passed: nothing more is sent."""
        return self.pacer.deadline_passed()

    def reset_circuit(self) -> None:
        """Close the circuit breaker: the preflight's failures must not keep the suite from starting."""
        self.pacer.reset_circuit()

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
                cred,
                req.http_method,
                url,
                body,
                headers,
                req.placement,
                tamper=req.tamper,
                realm=req.realm,
                signature_method=req.signature_method,
            )
            for signature in signatures_in(url, headers, body):
                self.redactor.add_signature(signature)
        if req.http_method == "POST" and not req.sign_query_on_post and post_query:
            # Added after signing: for servers that leave POST queries out of the base string.
            url += post_query
        return req.http_method, url, headers, body

    # -- sending ----------------------------------------------------------------------------------
    def send(self, req: ApiRequest) -> Exchange:
        """Send a logical request; transport errors raise TransportError.

        Only a connection failure (refused, reset, truncated) is retried, once, signed afresh,
        and counted in ``stats.retries``; timeouts, TLS and protocol errors are not retried.
        A throttled answer is waited out and the request sent again, signed afresh (:meth:`_patiently`).
        """
        return self._patiently(lambda: self._send_signed(req))

    def _send_signed(self, req: ApiRequest) -> Exchange:
        built = self.build(req)
        try:
            return self._guarded(req, *built, retryable=True)
        except TransportError as exc:
            if exc.kind != "connection":
                raise
            first = exc
        try:
            return self._guarded(req, *self.build(req), retry=True)  # fresh nonce for the retry
        except TransportError as exc:
            if exc.exchange is None:  # the retry was not sent (breaker, budget, deadline)
                raise first from None  # so the cause is the first failure
            raise

    def send_many(self, reqs: Sequence[ApiRequest]) -> list[Exchange]:
        """Send independent requests concurrently; order of results matches ``reqs``."""
        if len(reqs) <= 1 or self.limits.concurrency <= 1:
            return [self.send(r) for r in reqs]
        return list(self._pool.map(self.send, reqs))

    def submit(self, send: Callable[[], Exchange]) -> Future[Exchange]:
        """Run ``send`` (a call of :meth:`send`) on the pool that sends concurrent requests."""
        return self._pool.submit(send)

    def in_flight(self) -> bool:
        """Whether the main thread is waiting for a request's answer right now."""
        return self._main_in_flight > 0

    def _patiently(self, attempt: Callable[[], Exchange]) -> Exchange:
        """Take a front's back-pressure: re-send a throttled request (429, 503 + Retry-After).

        The pacer says how long to wait (and holds every request that long) within the per-request
        limits, the run deadline and the budget (:meth:`.Pacer.backpressure`); each re-send is a new
        ``attempt``, so a signed request gets a new nonce and timestamp.
        """
        waited, tries = 0.0, 0
        while True:
            exchange = attempt()
            delay = self.pacer.backpressure(exchange.response, tries, waited)
            if delay is None:
                return exchange
            waited, tries = waited + delay, tries + 1

    def send_built(self, req: ApiRequest | None, *args: Any, **kwargs: Any) -> Exchange:
        """Send exactly this request (replays, redeem); a throttled one is waited out and re-sent as is.

        The front did not handle a throttled request, so re-sending it unchanged (a replay keeps its
        nonce, a redemption its body) is still the one request the test means.
        """
        return self._patiently(lambda: self._guarded(req, *args, **kwargs))

    def _guarded(self, req: ApiRequest | None, *args: Any, **kwargs: Any) -> Exchange:
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
        self.pacer.admit(retry=retry)
        exchange = self._new_exchange(req, method, url, headers, body, retry)
        t0 = time.monotonic()
        window = Window.starting(t0, self.limits.timeout_seconds, self.pacer.deadline)
        watch = WATCHDOG.arm(t0 + window.limit)
        phase = "no complete response head"
        try:
            with watch, header_cap(self.limits.max_header_bytes):
                resp = self._session().request(
                    method,
                    url,
                    headers=headers,
                    data=body.encode("utf-8") if isinstance(body, str) else body,
                    timeout=(window.limit, window.limit),
                    stream=True,
                    allow_redirects=allow_redirects,
                )
                phase = f"HTTP {resp.status_code} head received, body incomplete"
                with resp:
                    data, truncated = read_capped(resp, t0 + window.limit, self.limits.max_body_bytes)
                    if watch.fired:
                        raise TimeoutError("body incomplete")
                    exchange.response = self._recorded(resp, data, truncated, t0)
        except Exception as exc:
            if self._record_oversize_head(exchange, exc, t0):  # the head went past max_header_bytes
                return self._answered(exchange)
            kind, message = self._why_no_answer(exc, watch.fired, window, phase, url)
            self._fail(exchange, message, kind, counts=not (retryable and kind == "connection"))
            raise TransportError(exchange.error or kind, kind, exchange) from None
        return self._answered(exchange)

    def _new_exchange(
        self,
        req: ApiRequest | None,
        method: str,
        url: str,
        headers: dict[str, str],
        body: str | bytes | None,
        retry: bool,
    ) -> Exchange:
        """The record of a request about to go out, secrets and signatures already scrubbed."""
        body_text = body if isinstance(body, str) else (body or b"")[:4096].decode("utf-8", "replace")
        return Exchange(
            id=next(self._ids),
            request=req,
            method=method,
            url=self.redactor.scrub(url, short=False),
            request_headers=[(k, self.redactor.scrub(v, short=False)) for k, v in headers.items()],
            request_body=self.redactor.scrub(body_text, short=False),
            started_at=time.time(),
            retried=retry,
        )

    def _recorded(self, resp: requests.Response, data: bytes, truncated: bool, t0: float) -> RecordedResponse:
        """The answer as the reports keep it, scrubbed."""
        return RecordedResponse(
            status=resp.status_code,
            reason=self.redactor.scrub(resp.reason or "", short=False),
            headers=[(k, self.redactor.scrub(v, short=False)) for k, v in resp.raw.headers.items()],
            body=self.redactor.scrub_bytes(data),
            truncated=truncated,
            body_bytes=len(data),
            elapsed_ms=(time.monotonic() - t0) * 1000,
        )

    def _why_no_answer(
        self, exc: BaseException, watch_fired: bool, window: Window, phase: str, url: str
    ) -> tuple[str, str]:
        """(kind, message) of a request that got no usable answer.

        The watchdog, a socket timeout or the body loop's clock check (a TimeoutError), whichever
        noticed first: the run deadline, not the target, is to blame when it was the shorter limit.
        """
        if watch_fired or is_timeout(exc):
            if window.by_run_deadline:
                deadline = self.limits.run_deadline_seconds
                return "deadline", f"run deadline of {deadline:g}s passed while waiting for the answer"
            return "timeout", (
                f"timed out after {window.limit:g}s without a complete answer "
                f"({phase}; [limits] timeout_seconds / --timeout)"
            )
        if isinstance(exc, TransportError):
            return exc.kind, str(exc)
        return classify(exc, url, self.config.ca_bundle)

    def _answered(self, exchange: Exchange) -> Exchange:
        assert exchange.response is not None
        exchange.finished_at = time.time()
        self.pacer.succeeded(oversize=exchange.response.truncated)
        self._tell(exchange)
        return exchange

    def _record_oversize_head(self, exchange: Exchange, exc: BaseException, t0: float) -> bool:
        """An answer whose head exceeded max_header_bytes is recorded as an oversize answer.

        Only the status and the headers read before the cap are kept, and no body: the checks see
        an answer that fails as oversize, as one with a body over max_body_bytes does.
        """
        over = caused_by(exc, HeadTooLarge)
        if over is None:
            return False
        status, reason, headers = over.parsed()
        if status is None:  # not even a status line within the cap: a malformed answer
            return False
        exchange.response = RecordedResponse(
            status=status,
            reason=self.redactor.scrub(reason, short=False),
            headers=[(k, self.redactor.scrub(v, short=False)) for k, v in headers],
            body=b"",
            truncated=True,
            headers_truncated=True,
            elapsed_ms=(time.monotonic() - t0) * 1000,
        )
        return True

    def _fail(self, exchange: Exchange, message: str, kind: str, *, counts: bool = True) -> None:
        exchange.error = self.redactor.scrub(message, short=False)
        exchange.error_kind = kind
        exchange.finished_at = time.time()
        self.pacer.failed(kind, exchange, counts=counts)
        self._tell(exchange)

    def _tell(self, exchange: Exchange) -> None:
        """Hand a finished exchange (answered or failed) to the observers, e.g. the HAR recorder."""
        for observer in self.observers:
            observer(exchange)

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
