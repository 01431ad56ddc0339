"""Schemathesis hooks for bench_schemathesis.py: OAuth 1.0a HMAC-SHA1 signing of every request.

The write-level credentials come from the environment (BENCH_OAUTH_*), set by the benchmark.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

import schemathesis
from oauthlib.oauth1 import SIGNATURE_TYPE_AUTH_HEADER, Client


@schemathesis.auth()
class OAuth1:
    """Signs each case as the API's clients do: the query or the form body in the base string."""

    def get(self, case, context):
        return True

    def set(self, case, data, context):
        client = Client(
            os.environ["BENCH_OAUTH_CONSUMER_KEY"],
            client_secret=os.environ["BENCH_OAUTH_CONSUMER_SECRET"],
            resource_owner_key=os.environ["BENCH_OAUTH_TOKEN"],
            resource_owner_secret=os.environ["BENCH_OAUTH_TOKEN_SECRET"],
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        )
        base = os.environ["BENCH_BASE_URL"].rstrip("/") + case.formatted_path
        query = {k: str(v) for k, v in (case.query or {}).items()}
        url = base + ("?" + urlencode(query) if query else "")
        body = None
        headers = {}
        if case.method.upper() == "POST" and isinstance(case.body, dict):
            body = urlencode({k: str(v) for k, v in case.body.items()})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        _, signed, _ = client.sign(url, case.method.upper(), body, headers)
        case.headers = {**(case.headers or {}), "Authorization": signed["Authorization"]}
