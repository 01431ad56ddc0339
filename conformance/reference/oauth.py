"""OAuth 1.0a (HMAC-SHA1) verification for the reference server.

oauthlib does the protocol work (parsing the ``Authorization`` header, parameter normalisation,
the signature base string and the HMAC); this module decides *which* request URI the client signed
and applies the policy: placements, timestamp window, nonce replay, credential lookup.

Why not ``oauthlib.oauth1.ResourceEndpoint``: it verifies against exactly one URI, while a server
behind a TLS-terminating proxy must accept the public URI the client used, and the platform's own
Node.js client writes ``https://host:443/...`` before normalising. We therefore compute the base
string for each acceptable base-string URI and compare in constant time.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ParamSpec
from urllib.parse import parse_qsl, urlsplit

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from conformance.model.credentials import Credentials

from .behaviour import Behaviour

REQUIRED = (
    "oauth_consumer_key",
    "oauth_signature_method",
    "oauth_signature",
    "oauth_timestamp",
    "oauth_nonce",
)


@dataclass(frozen=True)
class AuthResult:
    """``level`` is the caller's permission level; ``error`` is set for a failed signature."""

    level: str
    error: str | None = None
    consumer_key: str = ""


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that take part in the signature, as sent."""

    method: str
    path: str
    raw_query: str
    authorization: str | None
    form_body: str | None  # the body when it is application/x-www-form-urlencoded, else None


class _Secrets:
    """The shape ``sign_hmac_sha1_with_client`` expects: the two shared secrets."""

    def __init__(self, cred: Credentials) -> None:
        self.client_secret = cred.consumer_secret
        self.resource_owner_secret = cred.access_token_secret


class AuthError(Exception):
    """An unverifiable request; the message is for logs, the client only sees invalid_signature."""


def decode_pairs(raw: str) -> list[tuple[str, str]]:
    """Decode a form-encoded string strictly (bad UTF-8 raises ``UnicodeDecodeError``)."""
    return parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")


def _oauth_header_params(authorization: str | None) -> list[tuple[str, str]]:
    if not authorization or not authorization.strip().lower().startswith("oauth "):
        return []
    try:
        pairs = oauth_utils.parse_authorization_header(authorization.strip())
        # Header values are percent-encoded (RFC 5849, 3.5.1); oauthlib leaves decoding to us.
        return [(oauth_utils.unescape(k), oauth_utils.unescape(v)) for k, v in pairs]
    except Exception as exc:  # oauthlib raises ValueError/IndexError on malformed headers
        raise AuthError(f"malformed Authorization header: {exc}") from exc


def candidate_base_uris(public_bases: Iterable[str], path: str, behaviour: Behaviour) -> list[str]:
    """Every base-string URI the client may legitimately have signed.

    For each origin the client could have used, the RFC 5849 form (default port dropped, via
    oauthlib) and, for a default port, the same URI with the port written out.
    """
    out: list[str] = []
    for base in public_bases:
        try:
            uri = oauth_signature.base_string_uri(base.rstrip("/") + path)
        except ValueError:
            continue
        if uri not in out:
            out.append(uri)
        if behaviour.accept_explicit_default_port:
            parts = urlsplit(uri)
            default = {"http": 80, "https": 443}.get(parts.scheme)
            if default and parts.port is None:
                explicit = f"{parts.scheme}://{parts.hostname}:{default}{parts.path}"
                if explicit not in out:
                    out.append(explicit)
    return out


P = ParamSpec("P")


def _failure_as_result(verify: Callable[P, AuthResult]) -> Callable[P, AuthResult]:
    """An unverifiable request is an answer (``anonymous`` plus the reason for the log), not a crash."""

    @functools.wraps(verify)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> AuthResult:
        try:
            return verify(*args, **kwargs)
        except (AuthError, UnicodeDecodeError, ValueError) as exc:
            return AuthResult(level="anonymous", error=str(exc) or exc.__class__.__name__)

    return wrapper


@_failure_as_result
def authenticate(
    request: SignedRequest,
    public_bases: list[str],
    credentials: Mapping[str, Credentials],
    remember_nonce: Callable[[str, str, int, str], bool],
    behaviour: Behaviour,
    real_now: float | None = None,
) -> AuthResult:
    """Work out the caller's level: ``anonymous`` without OAuth, or the level of its credentials."""
    header = _oauth_header_params(request.authorization)
    query = decode_pairs(request.raw_query)
    body = decode_pairs(request.form_body) if request.form_body is not None else []

    placements = {
        "header": [(k, v) for k, v in header if k.startswith("oauth_")],
        "query": [(k, v) for k, v in query if k.startswith("oauth_")],
        "body": [(k, v) for k, v in body if k.startswith("oauth_")],
    }
    if behaviour.fault("oauth_header_only"):
        placements["query"] = placements["body"] = []
    used = [name for name, params in placements.items() if params]
    if not used:
        if request.authorization and request.authorization.strip().lower().startswith("oauth"):
            raise AuthError("empty OAuth Authorization header")
        return AuthResult(level=behaviour.anonymous_level)
    if len(used) > 1:
        raise AuthError(f"OAuth parameters in more than one place: {used}")
    if used == ["query"] and request.method == "POST":
        raise AuthError("OAuth parameters in the query string of a POST request")

    oauth = placements[used[0]]
    names = [k for k, _ in oauth]
    if len(names) != len(set(names)):
        raise AuthError("repeated OAuth parameter")
    params = dict(oauth)
    missing = [k for k in REQUIRED if not params.get(k)]
    if missing:
        raise AuthError(f"missing OAuth parameters: {missing}")
    plaintext = params["oauth_signature_method"] == "PLAINTEXT" and behaviour.fault(
        "plaintext_signature_accepted"
    )
    if params["oauth_signature_method"] != "HMAC-SHA1" and not plaintext:
        if behaviour.other_signature_methods_unsigned:  # ignored, as an unsigned caller's (a variant)
            return AuthResult(level=behaviour.anonymous_level)
        raise AuthError("only HMAC-SHA1 is supported")
    if params.get("oauth_version", "1.0") != "1.0":
        raise AuthError("oauth_version must be 1.0")

    timestamp_s = params["oauth_timestamp"]
    if not timestamp_s.isascii() or not timestamp_s.isdigit() or len(timestamp_s) > 12:
        raise AuthError("malformed oauth_timestamp")
    timestamp = int(timestamp_s)
    now = time.time() if real_now is None else real_now
    if abs(now - timestamp) > behaviour.timestamp_window_seconds:
        raise AuthError("oauth_timestamp outside the accepted window")

    cred = next((c for c in credentials.values() if c.consumer_key == params["oauth_consumer_key"]), None)
    if cred is None:
        raise AuthError("unknown consumer key")
    token = params.get("oauth_token", "")
    if not hmac.compare_digest(token.encode(), cred.access_token.encode()):
        raise AuthError("unknown access token for this consumer")

    # All parameters except realm and the signature itself, from every place (RFC 5849 3.4.1.3).
    unsigned = ("oauth_signature",) if behaviour.fault("realm_signed") else ("realm", "oauth_signature")
    header_sig = [(k, v) for k, v in header if k not in unsigned]
    signed = (
        [(k, v) for k, v in query if k != "oauth_signature"]
        + header_sig
        + [(k, v) for k, v in body if k != "oauth_signature"]
    )
    normalized = oauth_signature.normalize_parameters(signed)
    given = params["oauth_signature"]
    ok = plaintext and hmac.compare_digest(
        oauth_signature.sign_plaintext_with_client(None, _Secrets(cred)).encode(), given.encode()
    )
    for uri in candidate_base_uris(public_bases, request.path, behaviour):
        base = oauth_signature.signature_base_string(request.method.upper(), uri, normalized)
        expected = oauth_signature.sign_hmac_sha1_with_client(base, _Secrets(cred))
        if hmac.compare_digest(expected.encode(), given.encode()):
            ok = True
    if not ok and not behaviour.fault("signature_not_checked"):
        raise AuthError("signature mismatch")

    if behaviour.check_nonces and not remember_nonce(
        cred.consumer_key, token, timestamp, params["oauth_nonce"]
    ):
        raise AuthError("replayed nonce")
    return AuthResult(level=cred.level, consumer_key=cred.consumer_key)
