"""``/api/photo/redeem-replace-token``: the upload form's target, answered in plain text or a callback.

``read_upload`` -> ``lookup_token`` -> the file check -> ``Store.redeem`` (one atomic step) ->
``respond_callback``: a redirect, an auto-submitting form or, for ``background_return_p``, a
server-side GET and an ``ok ...``/``error ...`` line (browser-based-uploads.md, 4a/4b).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from conformance.spec import ErrorCode

from .behaviour import Behaviour
from .callbacks import Callback, callback_params, deliver_background, form_page, scheme_allowed
from .context import FORM_CONTENT_TYPE, Context, finish, site_domain, text_response
from .store import ReplacementRefused, TokenRow

REDEEM_MESSAGES = {
    "unknown": "Invalid replace token",
    "consumed": "This replace token has been used up",
    "expired": "This replace token has expired",
    "missing_token": "No replace_token was given",
    "bad_request": "The upload could not be read; send multipart/form-data with POST",
    ErrorCode.NO_FILE: "No file was included in the upload",
    "too_long": "The callback URL would exceed the allowed length",
    "storage": "The server could not store the upload; try again later",
}


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
    callback: Callback, row: TokenRow, ctx: Context, now: int, *, ok_line: str, replacement_id: int = 0
) -> Response:
    """Send the user (or the server itself) to the callback."""
    url = callback.url
    b = ctx.behaviour
    if row.background_return_p:
        status = "not delivered"
        allowed = scheme_allowed(row.return_url, absolute_only=True)
        if allowed and len(url) <= b.background_max_chars and not b.fault("background_callback_ignored"):
            status = deliver_background(url, b)
        if replacement_id:
            ctx.store.record_callback(replacement_id, url, status)
        if b.fault("background_error_unprefixed"):
            ok_line = ok_line.removeprefix("error ")
        return text_response(f"{ok_line} {url}" if ok_line.startswith("ok") else ok_line, now)
    if replacement_id:
        ctx.store.record_callback(replacement_id, url, "browser")
    if not scheme_allowed(row.return_url):
        return redeem_text("OK" if ok_line.startswith("ok") else ok_line.removeprefix("error "), b, now)
    redirect = len(url) <= b.callback_threshold or b.fault("callback_long_as_get")
    if redirect and not b.fault("callback_always_form"):
        response = Response(f"Redirecting to {url}\n", status=b.redirect_status, content_type="text/plain")
        response.headers["Location"] = url
        response.autocorrect_location_header = False
        return finish(response, now)
    page = form_page(callback)
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
        message = REDEEM_MESSAGES[ErrorCode.NO_FILE]
        if not row.return_url:
            return redeem_text(f"error {message}" if row.background_return_p else message, b, now)
        callback = Callback(
            return_to,
            callback_params([*base, ("error_message", message)], upload.extra_fields),
            raw_values=b.fault("callback_values_not_encoded"),
        )
        return respond_callback(callback, row, ctx, now, ok_line=f"error {message}")

    def fits(replacement: Any) -> bool:
        if not (row.background_return_p and row.return_url):
            return True
        url = success_callback(replacement).url
        return len(url) <= b.background_max_chars

    def success_callback(replacement: Any) -> Callback:
        ids = [("photo_id", replacement.photo_id), ("tree_id", str(replacement.tree_id))]
        if b.fault("callback_drops_tree_id"):
            ids = ids[:1]
        params = [*base, *ids, ("token", replacement.token)]
        return Callback(
            return_to,
            callback_params(params, upload.extra_fields),
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
