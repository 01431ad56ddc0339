"""The fault table: realistic implementation bugs the reference server can be started with.

Each fault is one small deviation at the place it belongs: either a knob changed on the
:class:`~conformance.reference.behaviour.Behaviour` (``tweak``), or an ``if behaviour.fault(NAME)``
at the single step of the pipeline that owns the behaviour. ``detected_by`` names the requirement
IDs the suite is expected to fail for it; ``conformance selftest`` checks that it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.reference.behaviour import Behaviour


@dataclass(frozen=True)
class Fault:
    name: str
    group: str
    description: str  # the real-world bug it models
    detected_by: tuple[str, ...]  # requirement IDs expected to catch it
    profile: str = "core"  # the suite profile needed to detect it
    tweak: Callable[[Behaviour], None] | None = None  # knob faults; None = an inline behaviour.fault() check


def _set(**knobs: object) -> Callable[[Behaviour], None]:
    def apply(b: Behaviour) -> None:
        for key, value in knobs.items():
            setattr(b, key, value)

    return apply


# fmt: off
CORE_FAULTS: list[Fault] = [
    # -- AUTH ----------------------------------------------------------------------------------
    Fault("unsigned_gets_token", "AUTH",
          "The permission check only runs when OAuth parameters are present, so an unsigned "
          "request is served like an authorised one.",
          ("AUTH-UNSIGNED-DENIED",)),
    Fault("read_level_gets_token", "AUTH",
          "The method is registered with the 'read' minimum level (copy-paste from a read method).",
          ("AUTH-READ-DENIED",), tweak=_set(required_level="read")),
    Fault("permission_level_reports_required", "AUTH",
          "permission_denied reports the level the method requires instead of the caller's own.",
          ("AUTH-UNSIGNED-DENIED", "AUTH-READ-DENIED")),
    Fault("signature_not_checked", "AUTH",
          "The consumer key and token are looked up but the HMAC-SHA1 signature is never compared.",
          ("AUTH-BAD-SIGNATURE",)),
    Fault("oauth_header_only", "AUTH",
          "The OAuth middleware only parses the Authorization header; oauth_* parameters in the query "
          "or the form body are ignored, so those callers count as unsigned.",
          ("AUTH-PLACEMENT-QUERY", "AUTH-PLACEMENT-BODY")),
    Fault("nonce_replay_accepted", "AUTH",
          "Nonces are never remembered, so a captured signed request can be replayed.",
          ("AUTH-NONCE-REPLAY",), tweak=_set(check_nonces=False)),
    # -- HTTP ----------------------------------------------------------------------------------
    Fault("errors_http_4xx", "HTTP",
          "Errors are sent with REST-style statuses (401, 400, 404) instead of HTTP 200.",
          ("HTTP-STATUS-200",)),
    Fault("post_reads_query", "HTTP",
          "Parameters are read PHP $_REQUEST-style: a POST merges the URL query under the body.",
          ("HTTP-POST-IGNORES-QUERY",)),
    Fault("post_body_ignored", "HTTP",
          "The handler reads request.args only, so a form-encoded POST body is never used.",
          ("HTTP-GET-AND-POST", "AUTH-PLACEMENT-BODY")),
    # -- FORMAT --------------------------------------------------------------------------------
    Fault("format_ignored", "FORMAT",
          "format=json is ignored: every answer is XML.",
          ("FORMAT-JSON-VAR", "FORMAT-JSON-VARNAME", "FORMAT-JSON-RAW", "FORMAT-JSONP")),
    Fault("varname_ignored", "FORMAT",
          "varname is ignored: JSON is always assigned to 'visual'.",
          ("FORMAT-JSON-VARNAME",)),
    Fault("raw_needs_true_value", "FORMAT",
          "raw is tested for truthiness (PHP 'if ($raw)'), so a bare 'raw' or 'raw=' keeps the wrapper.",
          ("FORMAT-JSON-RAW",)),
    Fault("callback_ignored", "FORMAT",
          "callback is ignored: JSON is always 'var visual = ...;'.",
          ("FORMAT-JSONP",)),
    Fault("jsonp_callback_unchecked", "FORMAT",
          "The JSONP callback name is reflected without validation (cross-site scripting).",
          ("FORMAT-CALLBACK-SAFE",)),
    Fault("jsonp_callback_prefix_checked", "FORMAT",
          "The callback is validated with an unanchored regex match (only its start must look like an "
          "identifier) and emitted behind Express's '/**/ ' guard, so '/**/ alert(1);//({...});' "
          "reflects the name after the start of the body.",
          ("FORMAT-CALLBACK-SAFE",), tweak=_set(jsonp_prefix="/**/ ")),
    Fault("error_ignores_callback", "FORMAT",
          "Errors are rendered by a framework error handler that knows nothing of callback, varname or "
          "raw: every JSON error is 'var visual = {...};', so a JSONP client never sees it.",
          ("FORMAT-JSONP", "FORMAT-JSON-VARNAME", "FORMAT-JSON-RAW")),
    Fault("xml_text_unescaped", "FORMAT",
          "XML element text is concatenated without escaping, so '&' or '<' in return_url breaks the XML.",
          ("FORMAT-UTF8",)),
    Fault("utf8_read_as_latin1", "FORMAT",
          "Request parameters are decoded as ISO-8859-1 (servlet default), turning UTF-8 into mojibake.",
          ("FORMAT-UTF8",)),
    Fault("astral_chars_replaced", "FORMAT",
          "return_url is stored in a 3-byte 'utf8' (utf8mb3) column: characters outside the BMP become '?'.",
          ("FORMAT-UTF8",)),
    # -- RESPONSE ------------------------------------------------------------------------------
    Fault("json_missing_valid_until", "RESPONSE",
          "The JSON serializer's field list was not updated: valid_until is missing in JSON only.",
          ("RESPONSE-FIELDS", "FORMAT-JSON-VAR")),
    Fault("xml_missing_return_url", "RESPONSE",
          "The XML template forgot return_url; JSON has it.",
          ("RESPONSE-FIELDS", "FORMAT-XML-JSON-AGREE")),
    Fault("json_token_fields_unwrapped", "RESPONSE",
          "JSON puts the token fields at the top level instead of inside 'replacetoken'.",
          ("RESPONSE-JSON-ENVELOPE",)),
    Fault("json_numbers_not_strings", "RESPONSE",
          "JSON numbers are emitted as numbers (json_encode of ints) instead of strings.",
          ("FORMAT-JSON-VAR", "RESPONSE-FIELDS")),
    Fault("json_status_uppercase", "RESPONSE",
          "The JSON success says status 'OK' instead of 'ok'.",
          ("FORMAT-JSON-VAR", "RESPONSE-FIELDS")),
    Fault("cached_one", "RESPONSE",
          "The response cache layer marks signed answers cached=\"1\".",
          ("RESPONSE-CACHED-ZERO",)),
    Fault("wrong_endpoint", "RESPONSE",
          "JSON 'endpoint' is copied from the neighbouring get-upload-token method.",
          ("RESPONSE-JSON-ENVELOPE", "FORMAT-JSON-VAR"), tweak=_set(endpoint="/api/photo/get-upload-token")),
    Fault("return_url_dropped", "RESPONSE",
          "return_url is accepted but never stored, so an empty one is echoed.",
          ("RESPONSE-ECHO", "HTTP-GET-AND-POST")),
    Fault("return_url_truncated_255", "RESPONSE",
          "return_url is stored in a VARCHAR(255) column and silently truncated.",
          ("RESPONSE-ECHO",)),
    # -- PARAMS --------------------------------------------------------------------------------
    Fault("default_valid_minutes_60", "PARAMS",
          "valid_minutes defaults to 60 (the upload-token default) instead of 180.",
          ("PARAMS-VALID-MINUTES-DEFAULT", "TIME-VALID-UNTIL"), tweak=_set(default_valid_minutes=60)),
    Fault("default_max_uploads_zero", "PARAMS",
          "max_uploads defaults to 0, meant as 'unlimited'.",
          ("PARAMS-MAX-UPLOADS-DEFAULT",), tweak=_set(default_max_uploads=0)),
    Fault("valid_minutes_max_exclusive", "PARAMS",
          "The upper bound is checked with '<' instead of '<=': 1440 is clamped to 1439.",
          ("PARAMS-VALID-MINUTES-RANGE",), tweak=_set(valid_minutes_bounds=(15, 1439))),
    Fault("max_uploads_min_off_by_one", "PARAMS",
          "The lower bound of max_uploads is 2 ('more than one'): 1 is clamped to 2.",
          ("PARAMS-MAX-UPLOADS-RANGE",), tweak=_set(max_uploads_bounds=(2, 100))),
    Fault("max_uploads_unbounded", "PARAMS",
          "max_uploads bounds are documented but never enforced.",
          ("PARAMS-OUT-OF-RANGE",), tweak=_set(max_uploads_bounds=(-(10**40), 10**40))),
    Fault("out_of_range_to_default", "PARAMS",
          "An out-of-range value falls back to the default instead of the nearest bound.",
          ("PARAMS-OUT-OF-RANGE",)),
    Fault("max_uploads_ignored", "PARAMS",
          "max_uploads is parsed but the default is stored.",
          ("PARAMS-MAX-UPLOADS-RANGE", "HTTP-GET-AND-POST")),
    # -- TIME ----------------------------------------------------------------------------------
    Fault("valid_until_milliseconds", "TIME",
          "valid_until is in milliseconds (JavaScript Date.now()).",
          ("TIME-VALID-UNTIL",)),
    Fault("valid_until_local_time", "TIME",
          "valid_until is computed with mktime() on local wall-clock fields (simulated UTC+1: +3600 s).",
          ("TIME-VALID-UNTIL",)),
    Fault("valid_until_minutes_as_seconds", "TIME",
          "valid_until = now + valid_minutes (the *60 is missing).",
          ("TIME-VALID-UNTIL",)),
    Fault("valid_until_from_default", "TIME",
          "valid_until is computed from the default 180 minutes, not the given valid_minutes.",
          ("TIME-VALID-UNTIL",)),
    Fault("valid_until_node_skew", "TIME",
          "Two load-balanced nodes, one with its clock 30 s behind: valid_until jumps back and forth.",
          ("TIME-MONOTONIC", "TIME-VALID-UNTIL")),
    Fault("default_request_errors", "TIME",
          "valid_minutes and max_uploads are read with a required-parameter helper: a request carrying "
          "nothing but photo_id (the documented default case) is answered invalid_input.",
          ("TIME-VALID-UNTIL", "PARAMS-VALID-MINUTES-DEFAULT", "AUTH-WRITE-GRANTED", "TOKEN-UNIQUE")),
    # -- TOKEN ---------------------------------------------------------------------------------
    Fault("token_sequential", "TOKEN",
          "The token is the row's auto-increment id, zero-padded to look random.",
          ("TOKEN-UNPREDICTABLE",)),
    Fault("token_sha1_time_photo", "TOKEN",
          "The token is sha1(unix time + photo_id): guessable, and repeated within a second.",
          ("TOKEN-UNPREDICTABLE", "TOKEN-UNIQUE")),
    Fault("token_reused_per_photo", "TOKEN",
          "The token is an HMAC of photo_id only, so every call returns the photo's same token.",
          ("TOKEN-UNIQUE",)),
    Fault("concurrent_requests_error", "TOKEN",
          "Token inserts lock the table without waiting (SQLite busy_timeout 0): a request that arrives "
          "while another is being issued is answered with an error ('database is locked').",
          ("TOKEN-UNIQUE",)),
    Fault("token_short", "TOKEN",
          "Tokens are 8 hex digits (32 bits) from a truncated random id.",
          ("TOKEN-UNPREDICTABLE",), tweak=_set(token_bytes=4)),
    # -- PHOTO ---------------------------------------------------------------------------------
    Fault("unknown_photo_gets_token", "PHOTO",
          "photo_id is never looked up: any id gets a token.",
          ("PHOTO-UNKNOWN",)),
    Fault("unknown_photo_permission_denied", "PHOTO",
          "The ownership check runs first, so a photo that does not exist is 'permission_denied'.",
          ("PHOTO-UNKNOWN",)),
    Fault("missing_photo_id_500", "PHOTO",
          "params['photo_id'] raises KeyError when it is absent: HTTP 500 with a stack trace.",
          ("PHOTO-MISSING", "HTTP-STATUS-200")),
    # -- INPUT ---------------------------------------------------------------------------------
    Fault("malformed_int_500", "INPUT",
          "int(valid_minutes) raises on non-digits and nothing catches it: HTTP 500 with a stack trace.",
          ("INPUT-ROBUST", "HTTP-STATUS-200")),
    Fault("huge_int_500", "INPUT",
          "Values beyond a 32-bit INT column make the insert fail: HTTP 500 with a stack trace.",
          ("INPUT-ROBUST", "PARAMS-OUT-OF-RANGE", "HTTP-STATUS-200")),
    Fault("control_chars_unfiltered", "INPUT",
          "Control characters in return_url are copied into the XML, which no parser accepts.",
          ("INPUT-ROBUST",)),
    # -- ERROR ---------------------------------------------------------------------------------
    Fault("error_without_code", "ERROR",
          "Errors carry status and message but no code.",
          ("ERROR-ENVELOPE",)),
    Fault("json_error_without_message", "ERROR",
          "The JSON error serializer drops 'message'; XML has it.",
          ("ERROR-ENVELOPE",)),
]
# fmt: on

# fmt: off
REDEEM_FAULTS: list[Fault] = [
    # Redeem lifecycle rows (profile "full"), owned by the redeem suite.
    # -- REDEEM --------------------------------------------------------------------------------
    Fault("callback_drops_tree_id", "REDEEM",
          "The callback builder was written from the error example (4b) and never adds tree_id.",
          ("REDEEM-SUCCESS",), profile="full"),
    Fault("callback_loses_return_url_query", "REDEEM",
          "The callback URL is rebuilt from return_url's scheme, host and path, so its own query "
          "(theme=green) is lost.",
          ("REDEEM-RETURN-URL-QUERY",), profile="full"),
    Fault("extra_params_not_repeated", "REDEEM",
          "Only the known form fields (replace_token, file) are read; extra fields never reach the callback.",
          ("REDEEM-EXTRA-PARAMS",), profile="full"),
    Fault("callback_values_not_encoded", "REDEEM",
          "The callback URL is built by string concatenation: return_url's own query is decoded and "
          "joined back raw, and the callback and extra values are not URL-encoded, so '&', '=', '+', "
          "'%', '#' and spaces in them break the parameters the receiver sees.",
          ("REDEEM-RETURN-URL-QUERY", "REDEEM-EXTRA-PARAMS", "CALLBACK-REDIRECT-SHORT", "CALLBACK-POST-LONG",
           "BACKGROUND-CALLBACK"), profile="full"),
    # -- CALLBACK ------------------------------------------------------------------------------
    Fault("callback_long_as_get", "CALLBACK",
          "No length check: every callback is a 301 redirect, however long the URL.",
          ("CALLBACK-POST-LONG",), profile="full"),
    Fault("callback_always_form", "CALLBACK",
          "Every callback is rendered as the auto-submitting POST form, even short ones.",
          ("CALLBACK-REDIRECT-SHORT",), profile="full"),
    Fault("empty_return_url_redirects", "CALLBACK",
          "The callback is built even without a return_url, redirecting the browser to '?domain=...'.",
          ("CALLBACK-NO-RETURN-URL",), profile="full"),
    # -- REDEEM-ERRORS -------------------------------------------------------------------------
    Fault("redeem_unknown_token_redirects", "REDEEM-ERRORS",
          "A catch-all sends any unknown token home with a success-looking redirect instead of an error.",
          ("REDEEM-ERROR-UNKNOWN",), profile="full"),
    Fault("redeem_missing_file_succeeds", "REDEEM-ERRORS",
          "The upload handler never checks that a file arrived and 'replaces' the photo with nothing.",
          ("REDEEM-ERROR-MISSING-FILE",), profile="full"),
    # -- LIMITS --------------------------------------------------------------------------------
    Fault("redeem_limit_unenforced", "LIMITS",
          "uses is counted but never compared with max_uploads: a consumed token keeps working.",
          ("REDEEM-ERROR-CONSUMED", "LIMITS-MAX-UPLOADS", "LIMITS-CONCURRENT", "STATEFUL-TOKEN-STORE"),
          profile="full"),
    Fault("redeem_limit_racy", "LIMITS",
          "Check-then-update: uses is read, the file is stored, then uses is written, with no lock or "
          "conditional update, so a parallel burst over-succeeds.",
          ("LIMITS-CONCURRENT",), profile="full"),
    # -- EXPIRY --------------------------------------------------------------------------------
    Fault("redeem_expiry_unchecked", "EXPIRY",
          "valid_until is stored and reported but never compared with the clock when redeeming.",
          ("EXPIRY-REFUSED",), profile="full"),
    # -- BACKGROUND ----------------------------------------------------------------------------
    Fault("background_callback_ignored", "BACKGROUND",
          "The background callback is queued to a worker that never runs; the answer still says ok.",
          ("BACKGROUND-CALLBACK",), profile="full"),
    Fault("background_error_unprefixed", "BACKGROUND",
          "Background failures return the bare message (as browser mode does) without the 'error ' prefix.",
          ("BACKGROUND-ERROR",), profile="full"),
    # -- STATEFUL ------------------------------------------------------------------------------
    Fault("issue_resets_all_uses", "STATEFUL",
          "Issuing a token runs 'UPDATE tokens SET uses = 0' without its WHERE clause, so every new token "
          "gives the uploads of all earlier ones back; each token alone behaves, only interleaving shows it.",
          ("STATEFUL-TOKEN-STORE",), profile="full"),
]
# fmt: on

FAULT_LIST: list[Fault] = CORE_FAULTS + REDEEM_FAULTS

FAULTS: dict[str, Fault] = {f.name: f for f in FAULT_LIST}
