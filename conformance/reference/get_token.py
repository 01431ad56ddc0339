"""``/api/photo/get-replace-token``: one small function per step of the pipeline.

``read_request`` -> ``resolve_options`` -> ``authenticate`` -> ``authorize`` ->
``parse_token_request`` -> ``check_photo`` -> ``issue_token`` -> ``render_*``. Every answer,
error or not, is HTTP 200 (only the ``errors_http_4xx`` fault sends REST-style statuses).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote_plus

from werkzeug.wrappers import Request, Response

from conformance.spec import ErrorCode, level_at_least

from .behaviour import Behaviour
from .context import FORM_CONTENT_TYPE, Context, public_origins, raw_path, rendered_response, site_object
from .oauth import AuthResult, SignedRequest, authenticate, decode_pairs
from .params import ParamError, TokenRequest, first_values, parse_token_request
from .render import (
    BadRenderName,
    RenderOptions,
    default_json_options,
    render_error,
    render_success,
    resolve_options,
)
from .store import TokenRow

MESSAGES = {
    "issued": "Replace token created",
    ErrorCode.INVALID_SIGNATURE: "The request signature could not be verified",
    ErrorCode.PERMISSION_DENIED: "Permission denied: this method needs at least the '{required}' level",
    ErrorCode.NO_SUCH_PHOTO: "There is no photo or video with this photo_id",
    ErrorCode.INVALID_INPUT: "The request could not be processed",
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
STORAGE_ERROR_CODE = ErrorCode.ERROR_PROCESSING_UPLOAD  # documented code closest to a server-side failure
ERROR_HTTP_STATUS = {
    ErrorCode.INVALID_SIGNATURE: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NO_SUCH_PHOTO: 404,
}
"""Only for the ``errors_http_4xx`` fault: the REST-style statuses the platform does NOT use."""


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
        return ParamError(ErrorCode.INVALID_SIGNATURE, MESSAGES[ErrorCode.INVALID_SIGNATURE])
    if behaviour.fault("unsigned_gets_token") and not auth.consumer_key:
        return None
    if not level_at_least(auth.level, behaviour.required_level):
        return ParamError(
            ErrorCode.PERMISSION_DENIED,
            MESSAGES[ErrorCode.PERMISSION_DENIED].format(required=behaviour.required_level),
        )
    return None


def check_photo(req: TokenRequest, ctx: Context) -> None:
    b = ctx.behaviour
    if b.fault("unknown_photo_gets_token"):
        return
    if not req.photo_id.isdigit() or not ctx.store.photo_exists(req.photo_id):
        if b.fault("unknown_photo_permission_denied"):
            message = MESSAGES[ErrorCode.PERMISSION_DENIED].format(required=b.required_level)
            raise ParamError(ErrorCode.PERMISSION_DENIED, message)
        raise ParamError(ErrorCode.NO_SUCH_PHOTO, MESSAGES[ErrorCode.NO_SUCH_PHOTO])


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
    url = unquote_plus(url) if b.fault("return_url_decoded_twice") else url
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
        return error(ErrorCode.INVALID_INPUT, MESSAGES["bad_method"])
    try:
        api = read_request(request)
    except UnicodeDecodeError:
        return error(ErrorCode.INVALID_INPUT, MESSAGES["bad_encoding"])
    except ValueError:
        return error(ErrorCode.INVALID_INPUT, MESSAGES["bad_encoding"])
    if request.method.upper() == "POST" and (b.fault("post_reads_query") or b.fault("post_body_ignored")):
        query = first_values([p for p in decode_pairs(api.signed.raw_query) if not p[0].startswith("oauth_")])
        api.params = {**query, **api.params} if b.fault("post_reads_query") else query
    post_query = (
        {k for k, _ in decode_pairs(api.signed.raw_query)} if request.method.upper() == "POST" else set()
    )
    if b.refuse_post_query and API_PARAMS & post_query:
        return error(ErrorCode.INVALID_INPUT, MESSAGES["query_on_post"])
    if b.fault("default_request_errors") and set(api.params) <= {"photo_id"}:
        return error(
            ErrorCode.INVALID_INPUT, MESSAGES[ErrorCode.INVALID_INPUT]
        )  # options treated as required

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
        return error(ErrorCode.INVALID_INPUT, MESSAGES["bad_name"].format(name=bad_name))
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
            return error(ErrorCode.INVALID_INPUT, MESSAGES["busy"])
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
