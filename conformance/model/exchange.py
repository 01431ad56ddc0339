"""What the suite sends and what comes back: the logical request and the recorded exchange.

Plain data shared by every layer above: the transport fills it, the parsers and checks read it,
results.json stores its ``to_dict()`` form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from conformance.spec import GET_REPLACE_TOKEN

Placement = Literal["header", "query", "body"]
HttpMethod = Literal["GET", "POST"]


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
    realm: str = ""  # an Authorization header realm, as oauth.md's example sends (never signed)
    signature_method: str = "HMAC-SHA1"  # the one oauth.md supports; PLAINTEXT probes that it is the only one

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
    body_bytes: int = -1  # bytes read from the wire (capped); -1 = len(body)
    headers_truncated: bool = False  # the head went past max_header_bytes: headers are a prefix, no body

    def __post_init__(self) -> None:
        if self.body_bytes < 0:
            self.body_bytes = len(self.body)

    def release(self, keep: int = 65536) -> None:
        """Drop all but the head of a body already judged (an oversize one is megabytes of it)."""
        self.body = self.body[:keep]

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

    def without_body(self) -> Exchange:
        """A copy for timing/Date samples that does not keep the response body alive."""
        if self.response is None:
            return replace(self)
        return replace(self, response=replace(self.response, body=b"", body_bytes=self.response.body_bytes))

    def to_dict(self, body_limit: int = 16384) -> dict[str, Any]:
        """JSON-safe form for results.json; large bodies are cut with a note."""
        resp = None
        if self.response is not None:
            body = self.response.body
            cut = len(body) > body_limit
            headers, headers_cut = bounded_headers(self.response.headers)
            resp = {
                "status": self.response.status,
                "reason": _cut(self.response.reason, HEADER_VALUE_LIMIT),
                "headers": headers,
                "headers_truncated_in_report": headers_cut,
                "headers_truncated_by_cap": self.response.headers_truncated,
                "body": body[:body_limit].decode("utf-8", errors="replace"),
                "body_bytes": max(len(body), self.response.body_bytes),
                "body_truncated_in_report": cut or len(body) < self.response.body_bytes,
                "body_truncated_by_cap": self.response.truncated and not self.response.headers_truncated,
                "elapsed_ms": round(self.response.elapsed_ms, 1),
            }
        return {
            "id": self.id,
            "logical": _logical_dict(self.request),
            "method": self.method,
            "url": self.url,
            "request_headers": bounded_headers(self.request_headers)[0],
            "request_body": self.request_body[:body_limit],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "response": resp,
            "error": self.error,
            "error_kind": self.error_kind,
            "retried": self.retried,
        }


# What a record keeps of a head: a target may send 64 KiB of headers with every answer, and a
# run's reports must stay a few MB whatever it sends.
HEADERS_IN_REPORT = 8192  # characters of names and values per exchange
HEADER_VALUE_LIMIT = 1024  # characters of one value (and of the reason phrase)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters)"


def bounded_headers(headers: list[tuple[str, str]]) -> tuple[list[list[str]], bool]:
    """The headers as records keep them (each value cut, at most HEADERS_IN_REPORT characters), and
    whether anything was left out."""
    kept: list[list[str]] = []
    used = 0
    for name, value in headers:
        pair = [_cut(name, 256), _cut(value, HEADER_VALUE_LIMIT)]
        used += len(pair[0]) + len(pair[1])
        if used > HEADERS_IN_REPORT:
            left = len(headers) - len(kept)
            kept.append(["…", f"{left} more header{'s' * (left > 1)} not kept in the report"])
            return kept, True
        kept.append(pair)
    return kept, any(len(n) > 256 or len(v) > HEADER_VALUE_LIMIT for n, v in headers)


def _logical_dict(req: ApiRequest | None) -> dict[str, Any] | None:
    if req is None:
        return None
    data = asdict(req)
    data["params"] = [list(p) for p in req.params]
    data["query_on_post"] = [list(p) for p in req.query_on_post]
    return data
