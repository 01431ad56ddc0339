"""Test hooks (only with ``clock_control``): move the API clock, inspect a photo or a token.

``POST /_test/clock`` (form ``advance_seconds=N``, N >= 0) -> ``{"now": <api time>, "offset": <total
seconds>}``; ``GET /_test/photo/<id>`` -> the photo with its replacement history; ``GET
/_test/token/<token>`` -> the token row and its state. Answers are JSON; errors carry 4xx statuses.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .clock import ClockOutOfRange
from .context import Context, json_response

CLOCK_PATH = "/_test/clock"
PHOTO_PREFIX = "/_test/photo/"
TOKEN_PREFIX = "/_test/token/"


def handle_clock(request: Request, ctx: Context) -> Response:
    """``POST /_test/clock advance_seconds=N`` moves the API clock forward by N >= 0 seconds."""
    if request.method.upper() != "POST":
        return json_response({"error": "POST advance_seconds=N"}, ctx.clock.api_now(), 405)
    raw = (request.form.get("advance_seconds") or request.args.get("advance_seconds") or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return json_response(
            {"error": "advance_seconds must be a non-negative integer"}, ctx.clock.api_now(), 400
        )
    try:
        offset = ctx.clock.advance(int(raw))
    except ClockOutOfRange as exc:  # the API clock stays where dates can still be formatted
        return json_response({"error": str(exc)}, ctx.clock.api_now(), 400)
    now = ctx.clock.api_now()
    return json_response({"now": now, "offset": offset}, now)


def handle_photo(photo_id: str, ctx: Context) -> Response:
    now = ctx.clock.api_now()
    state = ctx.store.photo_state(photo_id)
    if state is None:
        return json_response({"error": "no such photo"}, now, 404)
    return json_response(state, now)


def handle_token(token: str, ctx: Context) -> Response:
    now = ctx.clock.api_now()
    row = ctx.store.get_token(token)
    if row is None:
        return json_response({"error": "no such token"}, now, 404)
    data = dict(row.__dict__)
    data["state"] = row.state(now)
    return json_response(data, now)


def handle_hook(request: Request, ctx: Context) -> Response | None:
    """The hook ``request`` addresses, or ``None`` when it is no hook (or the hooks are off)."""
    path = request.path
    if not ctx.test_hooks:
        return None
    if path == CLOCK_PATH:
        return handle_clock(request, ctx)
    if path.startswith(PHOTO_PREFIX):
        return handle_photo(path.removeprefix(PHOTO_PREFIX), ctx)
    if path.startswith(TOKEN_PREFIX):
        return handle_token(path.removeprefix(TOKEN_PREFIX), ctx)
    return None
