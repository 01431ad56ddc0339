"""Reference server: OAuth 1.0a verification, permission levels and proxy-aware signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from oauthlib.oauth1 import Client

from conformance.reference import ReferenceServer
from tests.reference_helpers import GET_TOKEN, PHOTO_ID, get_token, js, server_fixture, xml

ref = server_fixture()
public = server_fixture(public_url="https://videos.example.com")
proxied = server_fixture(trust_proxy=True)


def status(resp: requests.Response) -> tuple[str | None, str | None, str | None]:
    root = xml(resp)
    return root.get("status"), root.get("code"), root.get("permission_level")


@pytest.mark.parametrize("signature_type", ["AUTH_HEADER", "QUERY"])
def test_get_accepts_oauth_in_header_and_query(ref: ReferenceServer, signature_type: str) -> None:
    resp = get_token(ref, signature_type=signature_type)
    assert resp.status_code == 200
    assert status(resp) == ("ok", None, "write")
    assert xml(resp).get("cached") == "0"


@pytest.mark.parametrize("signature_type", ["AUTH_HEADER", "BODY"])
def test_post_accepts_oauth_in_header_and_form_body(ref: ReferenceServer, signature_type: str) -> None:
    resp = get_token(ref, method="POST", signature_type=signature_type)
    assert status(resp) == ("ok", None, "write")


def test_oauth_in_query_of_a_post_is_refused(ref: ReferenceServer) -> None:
    """The docs allow no query parameters on POST, OAuth ones included (position: invalid_signature)."""
    resp = get_token(ref, method="POST", signature_type="QUERY")
    assert status(resp) == ("error", "invalid_signature", "anonymous")


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("anonymous", ("error", "permission_denied", "anonymous")),
        ("read", ("error", "permission_denied", "read")),
        ("write", ("ok", None, "write")),
        ("admin", ("ok", None, "admin")),
    ],
)
def test_permission_levels(ref: ReferenceServer, level: str, expected: tuple[str, str | None, str]) -> None:
    resp = get_token(ref, level=level)
    assert resp.status_code == 200
    assert status(resp) == expected


def _client(ref: ReferenceServer, level: str = "write", **kw: str) -> Client:
    c = ref.credentials[level]
    return Client(c.consumer_key, c.consumer_secret, c.access_token, c.access_token_secret, **kw)


def test_bad_signature_is_invalid_signature(ref: ReferenceServer) -> None:
    c = ref.credentials["write"]
    client = Client(c.consumer_key, "wrong-secret", c.access_token, c.access_token_secret)
    uri, headers, _ = client.sign(f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}")
    resp = requests.get(uri, headers=headers, timeout=10)
    assert resp.status_code == 200
    assert status(resp) == ("error", "invalid_signature", "anonymous")


def test_tampered_parameter_is_invalid_signature(ref: ReferenceServer) -> None:
    uri, headers, _ = _client(ref).sign(f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}")
    resp = requests.get(uri + "&valid_minutes=20", headers=headers, timeout=10)
    assert status(resp) == ("error", "invalid_signature", "anonymous")


def test_unknown_consumer_key_is_invalid_signature(ref: ReferenceServer) -> None:
    client = Client("nobody", "secret", "token", "token-secret")
    uri, headers, _ = client.sign(f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}")
    assert status(requests.get(uri, headers=headers, timeout=10))[1] == "invalid_signature"


def test_replayed_nonce_is_refused(ref: ReferenceServer) -> None:
    uri, headers, _ = _client(ref).sign(f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}")
    first = requests.get(uri, headers=headers, timeout=10)
    again = requests.get(uri, headers=headers, timeout=10)
    assert status(first) == ("ok", None, "write")
    assert status(again) == ("error", "invalid_signature", "anonymous")


@pytest.mark.parametrize("skew", [-1000, 1000])
def test_stale_or_future_timestamp_is_refused(ref: ReferenceServer, skew: int) -> None:
    client = _client(ref, timestamp=str(int(time.time()) + skew))
    uri, headers, _ = client.sign(f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}")
    assert status(requests.get(uri, headers=headers, timeout=10))[1] == "invalid_signature"


def test_malformed_authorization_header_is_invalid_signature(ref: ReferenceServer) -> None:
    resp = requests.get(
        f"{ref.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}",
        headers={"Authorization": 'OAuth oauth_consumer_key="x", garbage'},
        timeout=10,
    )
    assert resp.status_code == 200
    assert status(resp)[1] == "invalid_signature"


def test_post_ignores_query_parameters(ref: ReferenceServer) -> None:
    """On POST only the body carries API parameters; the signature still covers the query."""
    client = _client(ref)
    url = f"{ref.base_url}{GET_TOKEN}?photo_id=999999999&valid_minutes=30"
    body = urlencode({"photo_id": PHOTO_ID})
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    uri, headers, signed_body = client.sign(url, "POST", body, ctype)
    resp = requests.post(uri, data=signed_body, headers=headers, timeout=10)
    root = xml(resp)
    assert root.get("status") == "ok", resp.text
    assert root.findtext("photo_id") == PHOTO_ID
    assert root.findtext("valid_minutes") == "180"

    uri, headers, signed_body = _client(ref).sign(url, "POST", "", ctype)
    resp = requests.post(uri, data=signed_body, headers=headers, timeout=10)
    assert status(resp) == ("error", "invalid_input", "write")


# -- node-23video ----------------------------------------------------------------------------
def _node_uri_encode(value: str) -> str:
    """encodeURIComponent plus escaping of !'()* — i.e. RFC 3986 unreserved characters only."""
    return quote(value, safe="-_.~")


def node_23video_request(
    domain: str, method_path: str, data: dict[str, str], creds: object, *, keep_port: bool
):
    """Sign exactly like node-23video 1.0.7 (lib/oauth.js ``signature``) does for ``$.call``.

    The client adds ``format=json&raw=1``, parses ``https://DOMAIN:443/api/...?<data>`` and
    normalises it to scheme + hostname + port-unless-default + path: the ``:443`` is dropped, so
    the base-string URI is ``https://DOMAIN/api/...``. Parameters are the query (= the POST body)
    plus the oauth_* ones, sorted by name; the header carries only oauth_* values, no realm.
    ``keep_port=True`` models a client that keeps the explicit ``:443`` (also accepted).
    """
    data = {**data, "format": "json", "raw": "1"}
    parsed = urlsplit(f"https://{domain}:443{method_path}?{urlencode(data)}")
    port = "" if parsed.port == 443 and not keep_port else f":{parsed.port}"
    normalized_url = f"{parsed.scheme.lower()}://{parsed.hostname}{port}{parsed.path}"
    params = dict(data)
    params.update(
        oauth_timestamp=str(round(time.time())),
        oauth_nonce=secrets.token_hex(16),
        oauth_version="1.0",
        oauth_signature_method="HMAC-SHA1",
        oauth_consumer_key=creds.consumer_key,
        oauth_token=creds.access_token,
    )
    keys = sorted(params)
    normalized_params = "&".join(f"{_node_uri_encode(k)}={_node_uri_encode(params[k])}" for k in keys)
    base = "&".join(["POST", _node_uri_encode(normalized_url), _node_uri_encode(normalized_params)])
    key = f"{_node_uri_encode(creds.consumer_secret)}&{_node_uri_encode(creds.access_token_secret)}"
    digest = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
    parts = [f'{_node_uri_encode(k)}="{_node_uri_encode(params[k])}"' for k in keys if k.startswith("oauth_")]
    parts.append(f'oauth_signature="{_node_uri_encode(digest)}"')
    return data, {"Authorization": "OAuth " + ", ".join(parts)}


@pytest.mark.parametrize("keep_port", [False, True])
def test_node_23video_client_is_accepted_behind_tls_proxy(public: ReferenceServer, keep_port: bool) -> None:
    data, headers = node_23video_request(
        "videos.example.com",
        GET_TOKEN,
        {"photo_id": PHOTO_ID, "return_url": "https://app.example.com/cb?x=1&y=it's (ok)*"},
        public.credentials["write"],
        keep_port=keep_port,
    )
    # restler posts the same data form-encoded to https://DOMAIN/...; we reach the origin directly.
    resp = requests.post(public.base_url + GET_TOKEN, data=data, headers=headers, timeout=10)
    wrapper, _, obj = js(resp)
    assert wrapper == "raw"
    assert obj["status"] == "ok", obj
    assert obj["replacetoken"]["return_url"] == "https://app.example.com/cb?x=1&y=it's (ok)*"
    assert obj["site"]["domain"] == "videos.example.com"


def test_public_url_server_still_accepts_the_direct_url(public: ReferenceServer) -> None:
    assert status(get_token(public)) == ("ok", None, "write")


def test_forwarded_headers_are_honoured_only_with_trust_proxy(
    proxied: ReferenceServer, ref: ReferenceServer
) -> None:
    for server, expected in ((proxied, "ok"), (ref, "error")):
        c = server.credentials["write"]
        client = Client(c.consumer_key, c.consumer_secret, c.access_token, c.access_token_secret)
        _, headers, _ = client.sign(f"https://public.example.org{GET_TOKEN}?photo_id={PHOTO_ID}&format=json")
        headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.org"})
        resp = requests.get(
            f"{server.base_url}{GET_TOKEN}?photo_id={PHOTO_ID}&format=json", headers=headers, timeout=10
        )
        _, _, obj = js(resp)
        assert obj["status"] == expected, obj
        if expected == "ok":
            assert obj["site"]["domain"] == "public.example.org"
