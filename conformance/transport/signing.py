"""OAuth 1.0a HMAC-SHA1 signing (via oauthlib) in each placement the suite tests.

The signatures a request carries are secrets of a kind (they prove the key): the client hands
them to its redactor, so :func:`signatures_in` finds them wherever they were placed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from oauthlib import oauth1
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from conformance.model.credentials import Credentials
from conformance.model.exchange import Placement

_SIGNATURE_TYPES = {
    "header": oauth1.SIGNATURE_TYPE_AUTH_HEADER,
    "query": oauth1.SIGNATURE_TYPE_QUERY,
    "body": oauth1.SIGNATURE_TYPE_BODY,
}

_SIGNATURE_METHODS = {"HMAC-SHA1": oauth1.SIGNATURE_HMAC_SHA1, "PLAINTEXT": oauth1.SIGNATURE_PLAINTEXT}


def sign(
    cred: Credentials,
    method: str,
    url: str,
    body: str | None,
    headers: dict[str, str],
    placement: Placement,
    *,
    tamper: bool = False,
    realm: str = "",
    signature_method: str = "HMAC-SHA1",
) -> tuple[str, dict[str, str], str | None]:
    """Sign a request with OAuth 1.0a HMAC-SHA1 via oauthlib, in the given placement.

    Returns (url, headers, body); ``tamper`` signs with a wrong consumer secret; ``realm`` goes into
    the Authorization header unsigned, as RFC 5849 and oauth.md (Multipart forms) say;
    ``signature_method`` "PLAINTEXT" signs with the secrets themselves, to probe that only HMAC-SHA1
    is accepted.
    """
    client = oauth1.Client(
        cred.consumer_key,
        client_secret=cred.consumer_secret + ("-tampered" if tamper else ""),
        resource_owner_key=cred.access_token,
        resource_owner_secret=cred.access_token_secret,
        signature_type=_SIGNATURE_TYPES[placement],
        realm=realm or None,
        signature_method=_SIGNATURE_METHODS[signature_method],
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


def signatures_in(url: str, headers: dict[str, str], body: str | None) -> list[str]:
    """The oauth_signature values (decoded) a signed request carries, wherever they were placed."""
    found = [unquote(v) for v in re.findall(r'oauth_signature="([^"]*)"', headers.get("Authorization", ""))]
    found += [v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k == "oauth_signature"]
    if body:
        found += [v for k, v in parse_qsl(body, keep_blank_values=True) if k == "oauth_signature"]
    return [f for f in found if f]
