"""The reference WSGI application: routing plus one small function per step.

Request pipeline for ``/api/photo/get-replace-token``:
``read_request`` -> ``resolve_options`` -> ``authenticate`` -> ``authorize`` ->
``parse_token_request`` -> ``check_photo`` -> ``issue_token`` -> ``render_*``.
Redeem pipeline (``/api/photo/redeem-replace-token``):
``read_upload`` -> ``lookup_token`` -> ``check_file`` -> ``replace`` -> ``build_callback`` ->
``respond_redirect`` / ``respond_form`` / ``respond_background``.

Every API answer is HTTP 200; any unexpected exception is logged to stderr and turned into a
well-formed API error (or a plain-text error on the redeem endpoint), never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import http_date
from werkzeug.wrappers import Request, Response

from . import callbacks as cb
from .behaviour import Behaviour, SimulatedCrash, level_at_least
from .oauth import AuthResult, CredentialSet, SignedRequest, authenticate, decode_pairs
from .params import ParamError, TokenRequest, first_values, parse_token_request
from .render import (
    BadRenderName,
    Rendered,
    RenderOptions,
    default_json_options,
    render_error,
    render_success,
    resolve_options,
)
from .store import MAX_API_TIME, ClockOutOfRange, ReplacementRefused, StorageError, Store, TokenRow

GET_TOKEN_PATH = "/api/photo/get-replace-token"
REDEEM_PATH = "/api/photo/redeem-replace-token"
MAX_CONTENT_LENGTH = 64 * 1024 * 1024
MAX_FORM_MEMORY = 1024 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

MESSAGES = {
    "issued": "Replace token created",
    "invalid_signature": "The request signature could not be verified",
    "permission_denied": "Permission denied: this method needs at least the '{required}' level",
    "no_such_photo": "There is no photo or video with this photo_id",
    "invalid_input": "The request could not be processed",
    "bad_name": "'{name}' must be a JavaScript identifier path",
    "bad_encoding": "Request parameters must be UTF-8 and form-encoded",
    "bad_method": "Only GET and POST are supported",
    "storage": "The server could not store the request; try again later",
    "query_on_post": "Parameters in the URL query of a POST are not read; send them in the body",
    "busy": "database is locked",
}
API_PARAMS = frozenset(
    {"photo_id", "return_url", "background_return_p", "valid_minutes", "max_uploads"}
    | {"format", "raw", "varname", "callback"}
)
"""The method's own parameters (a POST carrying one in its query is refused by refuse_post_query)."""
STORAGE_ERROR_CODE = "error_processing_upload"  # documented code closest to a server-side failure
ERROR_HTTP_STATUS = {"invalid_signature": 401, "permission_denied": 403, "no_such_photo": 404}
"""Only for the ``errors_http_4xx`` fault: the REST-style statuses the platform does NOT use."""
REDEEM_MESSAGES = {
    "unknown": "Invalid replace token",
    "consumed": "This replace token has been used up",
    "expired": "This replace token has expired",
    "missing_token": "No replace_token was given",
    "bad_request": "The upload could not be read; send multipart/form-data with POST",
    "no_file": "No file was included in the upload",
    "too_long": "The callback URL would exceed the allowed length",
    "storage": "The server could not store the upload; try again later",
}


@dataclass
class Context:
    """Everything the steps need; built once per server."""

    store: Store
    behaviour: Behaviour
    credentials: Mapping[str, CredentialSet]
    public_url: str | None
    test_hooks: bool
    photo_ids: tuple[str, ...] = ()
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # for sequence faults
    issue_lock: threading.Lock = field(default_factory=threading.Lock)  # concurrent_requests_error only

    def api_now(self) -> int:
        """The API clock: wall clock plus the (persisted) test offset, kept where dates format."""
        return min(max(int(time.time()) + self.store.clock_offset(), 0), MAX_API_TIME)


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# get-replace-token steps
# --------------------------------------------------------------------------------------------
@dataclass
class ApiRequest:
    """The decoded request: API parameters (first value wins) and the signature inputs."""

    params: dict[str, str]
    signed: SignedRequest


def read_request(request: Request) -> ApiRequest:
    """Decode the request. GET: query parameters; POST: body parameters only (query ignored).

    Raises ``UnicodeDecodeError`` for non-UTF-8 input and ``RequestEntityTooLarge`` for bodies over
    the limits.
    """
    raw_query = request.environ.get("QUERY_STRING", "")
    method = request.method.upper()
    form_body: str | None = None
    pairs: list[tuple[str, str]]
    if method == "POST":
        mimetype = request.mimetype
        if mimetype == FORM_CONTENT_TYPE:
            body = request.get_data(cache=True)
            form_body = body.decode("utf-8")  # strict: bad UTF-8 is invalid input
            pairs = decode_pairs(form_body)
        elif mimetype == "multipart/form-data":
            pairs = list(request.form.items(multi=True))
        else:
            pairs = []
    else:
        pairs = decode_pairs(_wsgi_query_to_text(raw_query))
    params = first_values([(k, v) for k, v in pairs if not k.startswith("oauth_")])
    signed = SignedRequest(
        method=method,
        path=raw_path(request),
        raw_query=_wsgi_query_to_text(raw_query),
        authorization=request.headers.get("Authorization"),
        form_body=form_body,
    )
    return ApiRequest(params=params, signed=signed)


def _wsgi_query_to_text(raw: str) -> str:
    """WSGI hands the query string over as latin-1 text; recover the bytes and require UTF-8."""
    return raw.encode("latin-1").decode("utf-8")


def authorize(auth: AuthResult, behaviour: Behaviour) -> ParamError | None:
    if auth.error is not None:
        return ParamError("invalid_signature", MESSAGES["invalid_signature"])
    if behaviour.fault("unsigned_gets_token") and not auth.consumer_key:
        return None
    if not level_at_least(auth.level, behaviour.required_level):
        return ParamError(
            "permission_denied", MESSAGES["permission_denied"].format(required=behaviour.required_level)
        )
    return None


def check_photo(req: TokenRequest, ctx: Context) -> None:
    b = ctx.behaviour
    if b.fault("unknown_photo_gets_token"):
        return
    if not req.photo_id.isdigit() or not ctx.store.photo_exists(req.photo_id):
        if b.fault("unknown_photo_permission_denied"):
            message = MESSAGES["permission_denied"].format(required=b.required_level)
            raise ParamError("permission_denied", message)
        raise ParamError("no_such_photo", MESSAGES["no_such_photo"])


def new_token(req: TokenRequest, now: int, ctx: Context) -> str:
    """A fresh random token; the faults are weak schemes real servers have shipped."""
    b = ctx.behaviour
    if b.fault("token_sequential"):
        return f"{next(ctx.sequence) + 4096:040x}"
    if b.fault("token_sha1_time_photo"):
        return hashlib.sha1(f"{now}{req.photo_id}".encode()).hexdigest()
    if b.fault("token_reused_per_photo"):
        return hmac.new(b"reference-secret", req.photo_id.encode(), "sha1").hexdigest()
    if b.token_format == "uuid4_hex":
        return uuid.uuid4().hex
    if b.token_format == "base64url":
        return secrets.token_urlsafe(b.token_bytes)
    return secrets.token_hex(b.token_bytes)


def expiry(req: TokenRequest, now: int, ctx: Context) -> int:
    """valid_until = issue time + valid_minutes * 60, in Unix seconds (UTC)."""
    b = ctx.behaviour
    minutes = b.default_valid_minutes if b.fault("valid_until_from_default") else req.valid_minutes
    issued = now - 30 if b.fault("valid_until_node_skew") and next(ctx.sequence) % 2 else now
    issued += 3600 if b.fault("valid_until_local_time") else 0
    until = issued + (minutes if b.fault("valid_until_minutes_as_seconds") else minutes * 60)
    return until * 1000 if b.fault("valid_until_milliseconds") else until


def stored_return_url(req: TokenRequest, b: Behaviour) -> str:
    """The return_url as persisted (the faults model lossy columns)."""
    url = "" if b.fault("return_url_dropped") else req.return_url
    url = url[:255] if b.fault("return_url_truncated_255") else url
    return re.sub("[\U00010000-\U0010ffff]", "?", url) if b.fault("astral_chars_replaced") else url


def issue_token(req: TokenRequest, auth: AuthResult, now: int, ctx: Context) -> TokenRow:
    """Create and persist a token; ``valid_until`` = issue time + valid_minutes * 60."""
    token = new_token(req, now, ctx)
    if ctx.behaviour.fault("token_sha1_time_photo") or ctx.behaviour.fault("token_reused_per_photo"):
        existing = ctx.store.get_token(token)  # a derived token meets its earlier self
        if existing is not None:
            return existing
    row = TokenRow(
        replace_token=token,
        photo_id=req.photo_id,
        return_url=stored_return_url(req, ctx.behaviour),
        background_return_p=req.background_return_p,
        valid_minutes=req.valid_minutes,
        max_uploads=req.max_uploads,
        issued_at=now,
        valid_until=expiry(req, now, ctx),
        uses=0,
        level=auth.level,
        consumer_key=auth.consumer_key,
    )
    ctx.store.insert_token(row, reset_all_uses=ctx.behaviour.fault("issue_resets_all_uses"))
    return row


def token_fields(row: TokenRow) -> list[tuple[str, str]]:
    """The token's fields in the XML order of the documented example; all values are strings."""
    return [
        ("replace_token", row.replace_token),
        ("photo_id", row.photo_id),
        ("max_uploads", str(row.max_uploads)),
        ("valid_minutes", str(row.valid_minutes)),
        ("valid_until", str(row.valid_until)),
        ("return_url", row.return_url),
    ]


def handle_get_token(request: Request, ctx: Context, now: int) -> Response:
    b = ctx.behaviour
    options = RenderOptions()
    level = "anonymous"

    def error(code: str, message: str) -> Response:
        message = b.messages.get(code, message)
        status = ERROR_HTTP_STATUS.get(code, 400) if b.fault("errors_http_4xx") else 200
        return rendered_response(
            render_error(code=code, message=message, level=level, options=options, behaviour=b), now, status
        )

    if request.method.upper() not in ("GET", "POST"):
        return error("invalid_input", MESSAGES["bad_method"])
    try:
        api = read_request(request)
    except UnicodeDecodeError:
        return error("invalid_input", MESSAGES["bad_encoding"])
    except ValueError:
        return error("invalid_input", MESSAGES["bad_encoding"])
    if request.method.upper() == "POST" and (b.fault("post_reads_query") or b.fault("post_body_ignored")):
        query = first_values([p for p in decode_pairs(api.signed.raw_query) if not p[0].startswith("oauth_")])
        api.params = {**query, **api.params} if b.fault("post_reads_query") else query
    post_query = (
        {k for k, _ in decode_pairs(api.signed.raw_query)} if request.method.upper() == "POST" else set()
    )
    if b.refuse_post_query and API_PARAMS & post_query:
        return error("invalid_input", MESSAGES["query_on_post"])
    if b.fault("default_request_errors") and set(api.params) <= {"photo_id"}:
        return error("invalid_input", MESSAGES["invalid_input"])  # options treated as required

    bad_name: str | None = None
    try:
        options = resolve_options(api.params, b)
    except BadRenderName as exc:
        bad_name = str(exc) if b.refuse_bad_render_names else None
        options = default_json_options(b)

    auth = authenticate(
        api.signed,
        public_origins(request, ctx),
        ctx.credentials,
        ctx.store.remember_nonce,
        b,
    )
    if auth.error is not None:
        ctx.log(f"reference: invalid_signature: {auth.error}")
    level = auth.level if auth.error is None else "anonymous"
    if bad_name is not None:
        return error("invalid_input", MESSAGES["bad_name"].format(name=bad_name))
    denied = authorize(auth, b)
    if denied is not None:
        level = b.required_level if b.fault("permission_level_reports_required") else level
        return error(denied.code, denied.message)
    try:
        req = parse_token_request(api.params, b)
        check_photo(req, ctx)
    except ParamError as exc:
        return error(exc.code, exc.message)
    if b.fault("concurrent_requests_error"):
        if not ctx.issue_lock.acquire(blocking=False):  # SQLite with busy_timeout 0: no waiting
            return error("invalid_input", MESSAGES["busy"])
        try:
            time.sleep(0.05)
            row = issue_token(req, auth, now, ctx)
        finally:
            ctx.issue_lock.release()
    else:
        row = issue_token(req, auth, now, ctx)
    rendered = render_success(
        token_fields=token_fields(row),
        level=level,
        message=b.messages.get("issued", MESSAGES["issued"]),
        site=site_object(request, ctx),
        options=options,
        behaviour=b,
    )
    return rendered_response(rendered, now)


# --------------------------------------------------------------------------------------------
# redeem-replace-token steps
# --------------------------------------------------------------------------------------------
@dataclass
class Upload:
    replace_token: str
    filename: str
    content_type: str
    data: bytes
    extra_fields: list[tuple[str, str]]


class RedeemError(Exception):
    """A plain-text answer before a usable token is known."""


def read_upload(request: Request) -> Upload:
    if request.method.upper() != "POST" or request.mimetype not in ("multipart/form-data", FORM_CONTENT_TYPE):
        raise RedeemError(REDEEM_MESSAGES["bad_request"])
    form = list(request.form.items(multi=True))
    token = next((v for k, v in form if k == "replace_token"), "").strip()
    if not token:
        raise RedeemError(REDEEM_MESSAGES["missing_token"])
    storage = request.files.get("file")
    data = b""
    filename = ""
    content_type = ""
    if storage is not None:
        data = storage.read()
        filename = storage.filename or ""
        content_type = storage.mimetype or "application/octet-stream"
    extra = [(k, v) for k, v in form if k not in ("replace_token", "file")]
    return Upload(token, filename, content_type, data, extra)


def lookup_token(upload: Upload, ctx: Context, now: int) -> TokenRow:
    row = ctx.store.get_token(upload.replace_token)
    if row is None:
        raise RedeemError(REDEEM_MESSAGES["unknown"])
    state = row.state(now)
    b = ctx.behaviour
    if (state == "consumed" and b.fault("redeem_limit_unenforced")) or (
        state == "expired" and b.fault("redeem_expiry_unchecked")
    ):
        state = "valid"
    if state != "valid":
        message = REDEEM_MESSAGES[state]
        raise RedeemError(f"error {message}" if row.background_return_p else message)
    return row


def redeem_text(text: str, b: Behaviour, now: int) -> Response:
    """A plain-text redeem answer; a browser-mode error gets the variant's prefix (never ok/error lines)."""
    if b.redeem_error_prefix and text != "OK" and not text.startswith(("ok ", "error ")):
        text = b.redeem_error_prefix + text
    return text_response(text, now)


def respond_callback(
    callback: cb.Callback, row: TokenRow, ctx: Context, now: int, *, ok_line: str, replacement_id: int = 0
) -> Response:
    """Send the user (or the server itself) to the callback."""
    url = callback.url
    b = ctx.behaviour
    if row.background_return_p:
        status = "not delivered"
        allowed = cb.scheme_allowed(row.return_url, absolute_only=True)
        if allowed and len(url) <= b.background_max_chars and not b.fault("background_callback_ignored"):
            status = cb.deliver_background(url, b)
        if replacement_id:
            ctx.store.record_callback(replacement_id, url, status)
        if b.fault("background_error_unprefixed"):
            ok_line = ok_line.removeprefix("error ")
        return text_response(f"{ok_line} {url}" if ok_line.startswith("ok") else ok_line, now)
    if replacement_id:
        ctx.store.record_callback(replacement_id, url, "browser")
    if not cb.scheme_allowed(row.return_url):
        return redeem_text("OK" if ok_line.startswith("ok") else ok_line.removeprefix("error "), b, now)
    redirect = len(url) <= b.callback_threshold or b.fault("callback_long_as_get")
    if redirect and not b.fault("callback_always_form"):
        response = Response(f"Redirecting to {url}\n", status=b.redirect_status, content_type="text/plain")
        response.headers["Location"] = url
        response.autocorrect_location_header = False
        return finish(response, now)
    page = cb.form_page(callback)
    return finish(Response(page, status=200, content_type="text/html; charset=utf-8"), now)


def handle_redeem(request: Request, ctx: Context, now: int) -> Response:
    b = ctx.behaviour
    try:
        upload = read_upload(request)
        row = lookup_token(upload, ctx, now)
    except RedeemError as exc:
        if b.fault("redeem_unknown_token_redirects") and str(exc) == REDEEM_MESSAGES["unknown"]:
            return finish(Response("", status=b.redirect_status, headers={"Location": "/?upload=done"}), now)
        return redeem_text(str(exc), b, now)
    domain = site_domain(request, ctx)
    base = [("domain", domain), (b.callback_token_name, row.replace_token)]
    return_to = row.return_url  # where the callback goes
    if b.fault("callback_loses_return_url_query"):
        return_to = return_to.partition("?")[0]
    if b.fault("extra_params_not_repeated"):
        upload.extra_fields = []

    if not upload.data and not b.fault("redeem_missing_file_succeeds"):
        message = REDEEM_MESSAGES["no_file"]
        if not row.return_url:
            return redeem_text(f"error {message}" if row.background_return_p else message, b, now)
        callback = cb.Callback(
            return_to,
            cb.callback_params([*base, ("error_message", message)], upload.extra_fields),
            raw_values=b.fault("callback_values_not_encoded"),
        )
        return respond_callback(callback, row, ctx, now, ok_line=f"error {message}")

    def fits(replacement: Any) -> bool:
        if not (row.background_return_p and row.return_url):
            return True
        url = success_callback(replacement).url
        return len(url) <= b.background_max_chars

    def success_callback(replacement: Any) -> cb.Callback:
        ids = [("photo_id", replacement.photo_id), ("tree_id", str(replacement.tree_id))]
        if b.fault("callback_drops_tree_id"):
            ids = ids[:1]
        params = [*base, *ids, ("token", replacement.token)]
        return cb.Callback(
            return_to,
            cb.callback_params(params, upload.extra_fields),
            raw_values=b.fault("callback_values_not_encoded"),
        )

    if b.fault("redeem_limit_racy"):
        time.sleep(0.03)  # the use check (lookup_token) and the update below are no longer one atomic step
    try:
        replacement = ctx.store.redeem(
            row.replace_token,
            now,
            filename=upload.filename,
            content_type=upload.content_type,
            data=upload.data,
            sha256=hashlib.sha256(upload.data).hexdigest(),
            extra_fields=upload.extra_fields,
            accept=fits,
            enforce_limit=not (b.fault("redeem_limit_unenforced") or b.fault("redeem_limit_racy")),
            enforce_expiry=not b.fault("redeem_expiry_unchecked"),
        )
    except ReplacementRefused:
        return text_response(f"error {REDEEM_MESSAGES['too_long']}", now)
    if replacement is None:  # lost a race: used up or expired between lookup and update
        fresh = ctx.store.get_token(row.replace_token)
        state = fresh.state(now) if fresh else "unknown"
        message = REDEEM_MESSAGES.get(state, REDEEM_MESSAGES["consumed"])
        return redeem_text(f"error {message}" if row.background_return_p else message, b, now)
    if not row.return_url and not b.fault("empty_return_url_redirects"):
        if row.background_return_p:
            ok = f"ok {domain} {replacement.tree_id} {replacement.photo_id} {replacement.token} "
            return text_response(ok, now)
        return text_response("OK", now)
    ok_line = f"ok {domain} {replacement.tree_id} {replacement.photo_id} {replacement.token}"
    return respond_callback(
        success_callback(replacement),
        row,
        ctx,
        now,
        ok_line=ok_line,
        replacement_id=replacement.replacement_id,
    )


# --------------------------------------------------------------------------------------------
# test hooks
# --------------------------------------------------------------------------------------------
def json_response(obj: Any, now: int, status: int = 200) -> Response:
    body = json.dumps(obj, ensure_ascii=False, sort_keys=True)
    return finish(Response(body, status=status, content_type="application/json; charset=utf-8"), now)


def handle_clock(request: Request, ctx: Context) -> Response:
    """``POST /_test/clock advance_seconds=N`` moves the API clock forward by N >= 0 seconds."""
    if request.method.upper() != "POST":
        return json_response({"error": "POST advance_seconds=N"}, ctx.api_now(), 405)
    raw = (request.form.get("advance_seconds") or request.args.get("advance_seconds") or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return json_response({"error": "advance_seconds must be a non-negative integer"}, ctx.api_now(), 400)
    try:
        offset = ctx.store.advance_clock(int(raw))
    except ClockOutOfRange as exc:  # the API clock stays where dates can still be formatted
        return json_response({"error": str(exc)}, ctx.api_now(), 400)
    now = ctx.api_now()
    return json_response({"now": now, "offset": offset}, now)


def handle_photo(photo_id: str, ctx: Context) -> Response:
    now = ctx.api_now()
    state = ctx.store.photo_state(photo_id)
    if state is None:
        return json_response({"error": "no such photo"}, now, 404)
    return json_response(state, now)


def handle_token(token: str, ctx: Context) -> Response:
    now = ctx.api_now()
    row = ctx.store.get_token(token)
    if row is None:
        return json_response({"error": "no such token"}, now, 404)
    data = dict(row.__dict__)
    data["state"] = row.state(now)
    return json_response(data, now)


# --------------------------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------------------------
class ReferenceApp:
    """WSGI entry point with a catch-all so no request ever sees a traceback."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
            now = ctx.api_now()
        except StorageError as exc:  # a broken database must still answer
            ctx.log(f"reference: {exc}")
            now = int(time.time())
        except Exception:
            traceback.print_exc(file=sys.stderr)
            now = int(time.time())
        if ctx.behaviour.clock_jitter_seconds:  # this answer comes from a node whose clock lags a little
            now -= random.randint(0, ctx.behaviour.clock_jitter_seconds)
        try:
            if path == GET_TOKEN_PATH:
                return handle_get_token(request, ctx, now)
            if path == REDEEM_PATH:
                return handle_redeem(request, ctx, now)
            if ctx.test_hooks and path == "/_test/clock":
                return handle_clock(request, ctx)
            if ctx.test_hooks and path.startswith("/_test/photo/"):
                return handle_photo(path.removeprefix("/_test/photo/"), ctx)
            if ctx.test_hooks and path.startswith("/_test/token/"):
                return handle_token(path.removeprefix("/_test/token/"), ctx)
            return text_response("Not found", now, 404)
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
        if path == REDEEM_PATH:
            too_big = isinstance(exc, RequestEntityTooLarge)
            return text_response(
                "The upload is too large" if too_big else REDEEM_MESSAGES["bad_request"], now
            )
        if path == GET_TOKEN_PATH:
            rendered = render_error(
                code="invalid_input",
                message=MESSAGES["invalid_input"],
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
        if path == REDEEM_PATH:
            return text_response(REDEEM_MESSAGES["storage"], now)
        if path == GET_TOKEN_PATH:
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
