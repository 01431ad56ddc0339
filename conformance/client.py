"""The signed HTTP client: signs with OAuth 1.0a (oauthlib), sends politely, records every exchange.

Every request the suite makes goes through :class:`TargetClient`, so the request budget, the
requests-per-second cap, the body-size cap, the per-request timeout, the run deadline and the
redaction of secrets hold for every test and under every failure mode of the target.
"""

from __future__ import annotations

import itertools
import re
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import requests
from oauthlib import oauth1
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from conformance.config import Credentials, TargetConfig

GET_REPLACE_TOKEN = "/api/photo/get-replace-token"
REDEEM_REPLACE_TOKEN = "/api/photo/redeem-replace-token"

Placement = Literal["header", "query", "body"]
HttpMethod = Literal["GET", "POST"]
REDACTED = "<redacted>"
_SIGNATURE_RE = re.compile(r'(oauth_signature(?:%3D|=\\"|="|=))([^"&\s,\\]+)')
_MAX_CONSECUTIVE_TRANSPORT_ERRORS = 3


class TransportError(Exception):
    """The target gave no usable HTTP answer (timeout, refused, reset, TLS); the test errors."""

    def __init__(self, message: str, kind: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.exchange = exchange


class BudgetExhausted(TransportError):
    """The run's request budget is spent; no more requests are sent to the target."""


@dataclass(frozen=True)
class ApiRequest:
    """A logical API request: what strategies generate and Hypothesis shrinks.

    ``auth`` names the credential level used to sign (None = unsigned); ``tamper`` signs with a
    wrong secret so the signature is well-formed but invalid.
    """

    params: tuple[tuple[str, str], ...] = ()
    http_method: HttpMethod = "GET"
    auth: str | None = "write"
    placement: Placement = "header"
    path: str = GET_REPLACE_TOKEN
    query_on_post: tuple[tuple[str, str], ...] = ()
    sign_query_on_post: bool = True
    tamper: bool = False

    def but(self, **changes: Any) -> ApiRequest:
        """Copy with dataclass fields changed (auth, http_method, placement, ...)."""
        return ApiRequest(**{**asdict(self), **changes})

    def with_params(self, **updates: str | None) -> ApiRequest:
        """Copy with parameters replaced (None removes one)."""
        kept = [(k, v) for k, v in self.params if k not in updates]
        added = [(k, v) for k, v in updates.items() if v is not None]
        return ApiRequest(**{**asdict(self), "params": tuple(kept + added)})

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def describe(self) -> str:
        signed = f"signed {self.auth} in {self.placement}" if self.auth else "unsigned"
        tampered = ", bad signature" if self.tamper else ""
        return f"{self.http_method} {self.path} ({signed}{tampered}) {dict(self.params)!r}"


@dataclass
class RecordedResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool = False
    elapsed_ms: float = 0.0

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Exchange:
    """One request and what came back (or the transport error), with secrets redacted."""

    id: int
    request: ApiRequest | None
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: str
    started_at: float
    finished_at: float = 0.0
    response: RecordedResponse | None = None
    error: str | None = None
    error_kind: str | None = None
    retried: bool = False

    def to_dict(self, body_limit: int = 16384) -> dict[str, Any]:
        """JSON-safe form for results.json; large bodies are cut with a note."""
        resp = None
        if self.response is not None:
            body = self.response.body
            cut = len(body) > body_limit
            resp = {
                "status": self.response.status,
                "reason": self.response.reason,
                "headers": [list(h) for h in self.response.headers],
                "body": body[:body_limit].decode("utf-8", errors="replace"),
                "body_bytes": len(body),
                "body_truncated_in_report": cut,
                "body_truncated_by_cap": self.response.truncated,
                "elapsed_ms": round(self.response.elapsed_ms, 1),
            }
        return {
            "id": self.id,
            "logical": _logical_dict(self.request),
            "method": self.method,
            "url": self.url,
            "request_headers": [list(h) for h in self.request_headers],
            "request_body": self.request_body[:body_limit],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "response": resp,
            "error": self.error,
            "error_kind": self.error_kind,
            "retried": self.retried,
        }


def _logical_dict(req: ApiRequest | None) -> dict[str, Any] | None:
    if req is None:
        return None
    data = asdict(req)
    data["params"] = [list(p) for p in req.params]
    data["query_on_post"] = [list(p) for p in req.query_on_post]
    return data


@dataclass
class ClientStats:
    sent: int = 0
    retries: int = 0
    transport_errors: int = 0
    timeouts: int = 0
    oversize: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Redactor:
    """Removes secrets and OAuth signatures from anything the suite records or prints."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        text = _SIGNATURE_RE.sub(lambda m: m.group(1) + REDACTED, text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        if not self._secrets and b"oauth_signature" not in data:
            return data
        return self.scrub(data.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape"
        )


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


def sign(
    cred: Credentials, method: str, url: str, body: str | None, headers: dict[str, str], placement: Placement,
    *, tamper: bool = False,
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
        return uri, {**dict(signed_headers), **({"Content-Type": form["Content-Type"]} if method == "POST" else {})}, body
    client.signature_type = oauth1.SIGNATURE_TYPE_AUTH_HEADER
    uri, signed_headers, _ = client.sign(url, method, None, bare)
    oauth_params = parse_authorization_header(signed_headers["Authorization"])
    return uri, form, urlencode(oauth_params)


class TargetClient:
    """Sends API requests to one target; thread-safe; one instance per run."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.redactor = Redactor(config.secrets())
        self.stats = ClientStats()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._rate = _RateLimiter(self.limits.requests_per_second)
        self._consecutive_failures = 0
        self._deadline = time.monotonic() + self.limits.run_deadline_seconds
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.limits.concurrency))

    # -- plumbing ---------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self.config.ca_bundle or True
            session.headers["User-Agent"] = "twentythree-conformance/0.1"
            self._local.session = session
        return session

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _admit(self) -> None:
        """Enforce budget, deadline and the circuit breaker before a request leaves."""
        with self._lock:
            if self.stats.sent >= self.limits.request_budget:
                raise BudgetExhausted(
                    f"request budget of {self.limits.request_budget} requests exhausted", "budget"
                )
            if time.monotonic() > self._deadline:
                raise TransportError(
                    f"run deadline of {self.limits.run_deadline_seconds:.0f}s passed; request not sent",
                    "deadline",
                )
            if self._consecutive_failures >= _MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                raise TransportError(
                    f"not sent: the target failed {self._consecutive_failures} requests in a row "
                    "(transport errors); the suite stops hammering it",
                    "circuit_open",
                )
            self.stats.sent += 1
        self._rate.wait()

    def _note(self, ok: bool, kind: str | None = None) -> None:
        with self._lock:
            if ok:
                self._consecutive_failures = 0
                return
            self._consecutive_failures += 1
            self.stats.transport_errors += 1
            if kind:
                self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            if kind == "timeout":
                self.stats.timeouts += 1

    def reset_circuit(self) -> None:
        with self._lock:
            self._consecutive_failures = 0

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
            url, headers, body = sign(cred, req.http_method, url, body, headers, req.placement, tamper=req.tamper)
        if req.http_method == "POST" and not req.sign_query_on_post and post_query:
            url += post_query  # added after signing: for servers that leave POST queries out of the base string
        return req.http_method, url, headers, body

    # -- sending ----------------------------------------------------------------------------------
    def send(self, req: ApiRequest) -> Exchange:
        """Send a logical request; transport errors raise TransportError (after one retry)."""
        built = self.build(req)
        try:
            return self.send_built(req, *built)
        except TransportError as exc:
            if exc.kind not in ("connection",):
                raise
        with self._lock:
            self.stats.retries += 1
        exchange = self.send_built(req, *self.build(req))  # fresh nonce for the retry
        exchange.retried = True
        return exchange

    def send_many(self, reqs: Sequence[ApiRequest]) -> list[Exchange]:
        """Send independent requests concurrently; order of results matches ``reqs``."""
        if len(reqs) <= 1 or self.limits.concurrency <= 1:
            return [self.send(r) for r in reqs]
        return list(self._pool.map(self.send, reqs))

    def send_built(
        self,
        req: ApiRequest | None,
        method: str,
        url: str,
        headers: dict[str, str],
        body: str | bytes | None,
        *,
        allow_redirects: bool = False,
    ) -> Exchange:
        """Send exactly this request (used for replays of a signed request, and for redeem)."""
        self._admit()
        body_text = body if isinstance(body, str) else (body or b"")[:4096].decode("utf-8", "replace")
        exchange = Exchange(
            id=next(self._ids),
            request=req,
            method=method,
            url=self.redactor.scrub(url),
            request_headers=[(k, self.redactor.scrub(v)) for k, v in headers.items()],
            request_body=self.redactor.scrub(body_text),
            started_at=time.time(),
        )
        timeout = self.limits.timeout_seconds
        t0 = time.monotonic()
        try:
            resp = self._session().request(
                method,
                url,
                headers=headers,
                data=body.encode("utf-8") if isinstance(body, str) else body,
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=allow_redirects,
            )
            with resp:
                data, truncated = self._read_capped(resp, t0 + timeout)
                exchange.response = RecordedResponse(
                    status=resp.status_code,
                    reason=self.redactor.scrub(resp.reason or ""),
                    headers=[(k, self.redactor.scrub(v)) for k, v in resp.raw.headers.items()],
                    body=self.redactor.scrub_bytes(data),
                    truncated=truncated,
                    elapsed_ms=(time.monotonic() - t0) * 1000,
                )
                if truncated:
                    with self._lock:
                        self.stats.oversize += 1
        except TransportError as exc:
            self._fail(exchange, str(exc), exc.kind)
            exc.exchange = exchange
            raise
        except requests.exceptions.SSLError as exc:
            self._fail(exchange, f"TLS error: {_short(exc)}", "tls")
            raise TransportError(exchange.error or "", "tls", exchange) from exc
        except (requests.exceptions.Timeout, TimeoutError) as exc:
            self._fail(exchange, f"timed out after {timeout:g}s", "timeout")
            raise TransportError(exchange.error or "", "timeout", exchange) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                ssl.SSLError, OSError) as exc:
            self._fail(exchange, f"connection error: {_short(exc)}", "connection")
            raise TransportError(exchange.error or "", "connection", exchange) from exc
        except requests.exceptions.RequestException as exc:
            self._fail(exchange, f"HTTP error: {_short(exc)}", "protocol")
            raise TransportError(exchange.error or "", "protocol", exchange) from exc
        exchange.finished_at = time.time()
        self._note(True)
        return exchange

    def _fail(self, exchange: Exchange, message: str, kind: str) -> None:
        exchange.error = self.redactor.scrub(message)
        exchange.error_kind = kind
        exchange.finished_at = time.time()
        self._note(False, kind)

    def _read_capped(self, resp: requests.Response, deadline: float) -> tuple[bytes, bool]:
        """Read at most max_body_bytes (+1 to detect oversize) before the per-request deadline."""
        cap = self.limits.max_body_bytes
        chunks: list[bytes] = []
        total = 0
        raw = resp.raw
        while True:
            if time.monotonic() > deadline:
                raise TransportError(
                    f"timed out after {self.limits.timeout_seconds:g}s while reading the body", "timeout"
                )
            try:
                chunk = raw.read1(65536, decode_content=True) if hasattr(raw, "read1") else raw.read(65536)
            except Exception as exc:  # urllib3 protocol/decoding errors mid-body
                name = type(exc).__name__
                if "Timeout" in name:
                    raise TransportError("timed out while reading the body", "timeout") from exc
                raise TransportError(f"body could not be read: {name}: {_short(exc)}", "connection") from exc
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                return b"".join(chunks)[:cap], True

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


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
