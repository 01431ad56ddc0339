"""Shared helpers for the reference-server tests: fixtures, signing, parsing, a callback receiver."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import defusedxml.ElementTree as SafeET
import pytest
import requests
from requests_oauthlib import OAuth1

from conformance.reference import ReferenceServer, ReferenceSettings

GET_TOKEN = "/api/photo/get-replace-token"
REDEEM = "/api/photo/redeem-replace-token"
PHOTO_ID = "123456"


def server_fixture(**settings: Any) -> Any:
    """A module-scoped fixture running one reference server with ``settings``."""

    @pytest.fixture(scope="module")
    def _server() -> Iterator[ReferenceServer]:
        with ReferenceServer(ReferenceSettings(**settings)) as server:
            yield server

    return _server


def auth_for(server: ReferenceServer, level: str, signature_type: str = "AUTH_HEADER") -> OAuth1 | None:
    """requests-oauthlib signer for a credential level (``None`` for anonymous)."""
    if level == "anonymous":
        return None
    c = server.credentials[level]
    return OAuth1(
        c.consumer_key,
        c.consumer_secret,
        c.access_token,
        c.access_token_secret,
        signature_type=signature_type,
    )


def get_token(
    server: ReferenceServer,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    level: str = "write",
    method: str = "GET",
    signature_type: str = "AUTH_HEADER",
) -> requests.Response:
    """Call get-replace-token; ``params`` go in the query (GET) or the form body (POST)."""
    params = {"photo_id": PHOTO_ID} if params is None else params
    auth = auth_for(server, level, signature_type)
    url = server.base_url + GET_TOKEN
    if method == "GET":
        return requests.get(url, params=params, auth=auth, timeout=10)
    return requests.post(url, data=params, auth=auth, timeout=10)


def xml(resp: requests.Response) -> Any:
    """The parsed ``<response>`` root (defusedxml)."""
    return SafeET.fromstring(resp.content)


JS_WRAPPER = re.compile(
    r"^(?:var ([A-Za-z_$][\w$.]*) = (.*);|([A-Za-z_$][\w$.]*)\((.*)\);|(\{.*\}))\s*$", re.S
)


def js(resp: requests.Response) -> tuple[str, str, dict[str, Any]]:
    """``(wrapper, name, object)`` of a JSON response: wrapper is ``var``, ``callback`` or ``raw``."""
    m = JS_WRAPPER.match(resp.content.decode("utf-8"))
    assert m, resp.text
    if m.group(1):
        return "var", m.group(1), json.loads(m.group(2))
    if m.group(3):
        return "callback", m.group(3), json.loads(m.group(4))
    return "raw", "", json.loads(m.group(5))


def issue(server: ReferenceServer, **params: str) -> dict[str, str]:
    """Issue a replace token (write level, XML) and return its fields."""
    resp = get_token(server, {"photo_id": PHOTO_ID, **params})
    root = xml(resp)
    assert root.get("status") == "ok", resp.text
    return {child.tag: child.text or "" for child in root}


def redeem(
    server: ReferenceServer,
    token: str,
    content: bytes | None = b"new video bytes",
    extra: list[tuple[str, str]] | None = None,
) -> requests.Response:
    """Redeem as a browser form would (multipart, unsigned), without following redirects."""
    data = [("replace_token", token), *(extra or [])]
    files = {"file": ("clip.mp4", content, "video/mp4")} if content is not None else None
    if files is None:
        # Still multipart, like a browser form whose file input was left empty.
        files = {"file": ("", b"", "application/octet-stream")}
    return requests.post(server.base_url + REDEEM, data=data, files=files, allow_redirects=False, timeout=20)


def photo_state(server: ReferenceServer, photo_id: str = PHOTO_ID) -> dict[str, Any]:
    resp = requests.get(f"{server.base_url}/_test/photo/{photo_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


class CallbackReceiver:
    """A tiny HTTP server on loopback that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.requests.append(("GET", self.path))
                receiver.event.set()
                body = b"thanks"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
