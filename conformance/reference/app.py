"""The reference WSGI application: routing, and a catch-all so no request ever sees a traceback.

The two API methods live in :mod:`.get_token` and :mod:`.redeem`, the test hooks in :mod:`.hooks`.
Every API answer is HTTP 200; any unexpected exception is logged to stderr and turned into a
well-formed API error (or a plain-text error on the redeem endpoint), never a traceback.
"""

from __future__ import annotations

import random
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from conformance.spec import GET_REPLACE_TOKEN, REDEEM_REPLACE_TOKEN, ErrorCode

from .behaviour import SimulatedCrash
from .context import Context, crash_response, rendered_response, text_response
from .database import StorageError
from .front import Front
from .get_token import MESSAGES, STORAGE_ERROR_CODE, handle_get_token, read_request
from .hooks import handle_hook
from .redeem import REDEEM_MESSAGES, handle_redeem
from .render import RenderOptions, render_error, resolve_options

MAX_CONTENT_LENGTH = 64 * 1024 * 1024
MAX_FORM_MEMORY = 1024 * 1024


class ReferenceApp:
    """WSGI entry point with a catch-all so no request ever sees a traceback."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.front = Front(ctx.behaviour)  # a rate limiter before the API, when a row asks for one

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_CONTENT_LENGTH
        request.max_form_memory_size = MAX_FORM_MEMORY
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        ctx = self.ctx
        path = request.path
        try:
            now = ctx.clock.api_now()
        except StorageError as exc:  # a broken database must still answer
            ctx.log(f"reference: {exc}")
            now = int(time.time())
        except Exception:
            traceback.print_exc(file=sys.stderr)
            now = int(time.time())
        if ctx.behaviour.clock_jitter_seconds:  # this answer comes from a node whose clock lags a little
            now -= random.randint(0, ctx.behaviour.clock_jitter_seconds)
        if path in (GET_REPLACE_TOKEN, REDEEM_REPLACE_TOKEN):
            refused = self.front.refuse(now)
            if refused is not None:  # the front's answer: the API never saw the request
                return refused
        try:
            if path == GET_REPLACE_TOKEN:
                return handle_get_token(request, ctx, now)
            if path == REDEEM_REPLACE_TOKEN:
                return handle_redeem(request, ctx, now)
            hook = handle_hook(request, ctx)
            return hook if hook is not None else text_response("Not found", now, 404)
        except SimulatedCrash as exc:
            return crash_response(exc, now)
        except Exception as exc:
            return self.fallback(request, path, now, exc)

    def fallback(self, request: Request, path: str, now: int, exc: Exception) -> Response:
        """Any failure becomes a well-formed answer; only stderr sees the details."""
        if isinstance(exc, StorageError):
            return self.storage_failure(request, path, now, exc)
        if not isinstance(exc, (HTTPException, UnicodeDecodeError, ValueError)):
            traceback.print_exc(file=sys.stderr)
        else:
            self.ctx.log(f"reference: rejected request to {path}: {exc!r}")
        if path == REDEEM_REPLACE_TOKEN:
            too_big = isinstance(exc, RequestEntityTooLarge)
            return text_response(
                "The upload is too large" if too_big else REDEEM_MESSAGES["bad_request"], now
            )
        if path == GET_REPLACE_TOKEN:
            rendered = render_error(
                code=ErrorCode.INVALID_INPUT,
                message=MESSAGES[ErrorCode.INVALID_INPUT],
                level="anonymous",
                options=RenderOptions(),
                behaviour=self.ctx.behaviour,
            )
            return rendered_response(rendered, now)
        return text_response("Bad request", now, 400)

    def storage_failure(self, request: Request, path: str, now: int, exc: StorageError) -> Response:
        """The database failed (full disk, I/O error): a server-side error, never the client's fault.

        error-codes.md lists no internal error; ``error_processing_upload`` (an error occurred
        while processing) is the documented code closest to it. The API answer keeps the format
        the client asked for and the platform's HTTP 200; the hooks answer 500.
        """
        self.ctx.log(f"reference: {exc}")  # "database write failed: database or disk is full"
        if path == REDEEM_REPLACE_TOKEN:
            return text_response(REDEEM_MESSAGES["storage"], now)
        if path == GET_REPLACE_TOKEN:
            try:
                options = resolve_options(read_request(request).params, self.ctx.behaviour)
            except Exception:  # an unreadable request still gets the default format
                options = RenderOptions()
            rendered = render_error(
                code=STORAGE_ERROR_CODE,
                message=MESSAGES["storage"],
                level="anonymous",
                options=options,
                behaviour=self.ctx.behaviour,
            )
            return rendered_response(rendered, now)
        return text_response("database write failed", now, 500)
