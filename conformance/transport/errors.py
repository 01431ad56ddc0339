"""Transport failures: the exceptions a request raises and the one-line naming of what went wrong.

A test that gets no usable HTTP answer errors with a :class:`TransportError` whose ``kind`` says
what happened; only ``connection`` is retried, so the classification is also the retry policy.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import TypeVar
from urllib.parse import urlsplit

import requests

from conformance.model.exchange import Exchange
from conformance.transport.headers import HeadTooLarge

E = TypeVar("E", bound=BaseException)


class TransportError(Exception):
    """The target gave no usable HTTP answer (timeout, refused, reset, TLS); the test errors."""

    def __init__(self, message: str, kind: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.exchange = exchange


class BudgetExhausted(TransportError):
    """The run's request budget is spent; no more requests are sent to the target."""


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


def caused_by(exc: BaseException, cls: type[E]) -> E | None:
    """The first ``cls`` exception in ``exc``'s chain (requests and urllib3 wrap the original)."""
    return next((e for e in _chain(exc) if isinstance(e, cls)), None)


def is_timeout(exc: BaseException) -> bool:
    """Whether a socket or requests timeout is anywhere in the exception's chain."""
    return any(
        isinstance(e, TimeoutError | socket.timeout | requests.exceptions.Timeout)
        or "Timeout" in type(e).__name__
        for e in _chain(exc)
    )


# OpenSSL's reasons when the "TLS record" it read is the start of a plain-HTTP answer ("HTTP/1.1 ...");
# OpenSSL 3.2+ reports it as a record layer failure
PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})


def classify(exc: BaseException, url: str, ca_bundle: str | None) -> tuple[str, str]:
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
            if (e.reason or "") in PLAIN_HTTP_REASONS and parts.scheme == "https":
                # OpenSSL read an HTTP answer where a TLS record belongs: the port speaks plain HTTP
                return "tls", (
                    f"{where} does not speak TLS: base_url says https:// but the port answered like plain "
                    f"HTTP (use http://{where} if the target has no TLS) [{e.reason}]"
                )
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
        if isinstance(e, HeadTooLarge):  # not even a status line within the cap: never retried
            return "protocol", f"malformed HTTP answer from {where}: {e}"
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
