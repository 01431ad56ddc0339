"""What every handler shares: the per-server :class:`Context` and small request/response helpers.

Every answer goes through :func:`finish`, which stamps the one ``Date`` header from the API clock
(the HTTP handler adds none of its own), so a test-hook clock move shows on the wire.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from werkzeug.http import http_date
from werkzeug.wrappers import Request, Response

from conformance.model.credentials import Credentials

from .behaviour import Behaviour, SimulatedCrash
from .clock import Clock
from .render import Rendered
from .store import Store

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Context:
    """Everything the steps need; built once per server."""

    store: Store
    clock: Clock
    behaviour: Behaviour
    credentials: Mapping[str, Credentials]
    public_url: str | None
    test_hooks: bool
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # for sequence faults
    issue_lock: threading.Lock = field(default_factory=threading.Lock)  # concurrent_requests_error only


def public_origins(request: Request, ctx: Context) -> list[str]:
    """Origins the client may have addressed: the configured public URL first, then as received."""
    out: list[str] = []
    if ctx.public_url:
        parts = urlsplit(ctx.public_url)
        out.append(f"{parts.scheme}://{parts.netloc}")
    out.append(f"{request.scheme}://{request.host}")
    return out


def site_domain(request: Request, ctx: Context) -> str:
    """The public host (with a non-default port), as used in ``site.domain`` and callbacks."""
    origin = public_origins(request, ctx)[0]
    parts = urlsplit(origin)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port in (None, default) else f"{host}:{port}"


def site_object(request: Request, ctx: Context) -> dict[str, str]:
    return {"domain": site_domain(request, ctx), **ctx.behaviour.site}


def finish(response: Response, now: int) -> Response:
    """Stamp the one ``Date`` header from the API clock (the HTTP handler adds none of its own)."""
    response.headers["Date"] = http_date(now)
    response.headers["Cache-Control"] = "no-store"
    return response


def rendered_response(rendered: Rendered, now: int, status: int = 200) -> Response:
    return finish(Response(rendered.body, status=status, content_type=rendered.content_type), now)


def crash_response(exc: SimulatedCrash, now: int) -> Response:
    """What an unguarded production stack sends for an unhandled exception (crash faults only)."""
    trace = f'Traceback (most recent call last):\n  File "app.py", line 1, in handle\n{exc}\n'
    body = f"<html><body><h1>500 Internal Server Error</h1><pre>{trace}</pre></body></html>\n"
    return finish(Response(body, status=500, content_type="text/html; charset=utf-8"), now)


def text_response(text: str, now: int, status: int = 200) -> Response:
    return finish(Response(text, status=status, content_type="text/plain; charset=utf-8"), now)


def raw_path(request: Request) -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    return urlsplit(raw).path or "/"


def json_response(obj: Any, now: int, status: int = 200) -> Response:
    body = json.dumps(obj, ensure_ascii=False, sort_keys=True)
    return finish(Response(body, status=status, content_type="application/json; charset=utf-8"), now)
