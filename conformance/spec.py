"""Every fact the suite takes from the specification documents, each with its citation.

One home for what the documents say (paraphrased, never quoted): the checks, the parsers, the
strategies and the embedded reference server all import these names instead of keeping copies.
Positions the project takes where the documents are silent live in the catalog, not here.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

# --------------------------------------------------------------------------- endpoints
GET_REPLACE_TOKEN = "/api/photo/get-replace-token"
"""photo-get-replace-token.md, title."""
REDEEM_REPLACE_TOKEN = "/api/photo/redeem-replace-token"
"""photo-redeem-replace-token.md, title."""


# --------------------------------------------------------------------------- parameters
class Bounds(NamedTuple):
    """The documented range of an integer parameter and its default when omitted."""

    low: int
    high: int
    default: int


VALID_MINUTES = Bounds(15, 1440, 180)
"""photo-get-replace-token.md, Parameters (valid_minutes)."""
MAX_UPLOADS = Bounds(1, 100, 1)
"""photo-get-replace-token.md, Parameters (max_uploads)."""
BOUNDED_PARAMS: dict[str, Bounds] = {"valid_minutes": VALID_MINUTES, "max_uploads": MAX_UPLOADS}
"""The integer parameters with documented bounds, by name: photo-get-replace-token.md, Parameters."""

GET_REPLACE_TOKEN_PARAMS = (
    "photo_id",
    "return_url",
    "background_return_p",
    "valid_minutes",
    "max_uploads",
)
"""The method's own parameters: photo-get-replace-token.md, Parameters."""
FORMAT_PARAMS = ("format", "raw", "varname", "callback")
"""The response-format parameters every method takes: index.md, Response formats."""

TOKEN_FIELDS = ("replace_token", "photo_id", "max_uploads", "valid_minutes", "valid_until")
"""The members of a token answer: photo-get-replace-token.md, Example XML/JSON Response."""
SUCCESS_ATTRIBUTES = ("status", "permission_level")
"""What every success says beside its fields: photo-get-replace-token.md, Example XML Response."""
ECHOED_PARAMS = ("photo_id", "return_url")
"""Sent back exactly as given: photo-get-replace-token.md, Example XML Response."""
JSON_TOKEN_MEMBER = "replacetoken"
"""The JSON success's object holding the token fields, beside ``endpoint`` and a ``site`` object:
photo-get-replace-token.md, Example JSON Response."""
ERROR_MEMBERS = ("code", "message")
"""What an error carries beside status="error": index.md, Responses (Failure)."""


# --------------------------------------------------------------------------- permissions
LEVELS: tuple[str, ...] = ("none", "anonymous", "read", "write", "admin", "super")
"""Permission levels in ascending order: index.md, Permission levels."""
REQUIRED_LEVEL = "write"
"""photo-get-replace-token.md and photo-redeem-replace-token.md, Permission level."""


def level_at_least(actual: str, required: str) -> bool:
    """Whether ``actual`` grants everything ``required`` does (levels are cumulative)."""
    return LEVELS.index(actual) >= LEVELS.index(required)


# --------------------------------------------------------------------------- response formats
JS_NAME_PATTERN = r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*"
"""A JavaScript identifier path, what ``varname``/``callback`` name: index.md, Response formats."""
JS_NAME_RE = re.compile(f"^{JS_NAME_PATTERN}$")
"""The ASCII form of that rule, which the reference enforces; the suite's own safety check also
accepts Unicode identifiers (JavaScript allows them), see checks' ``is_js_name``."""
DEFAULT_VARNAME = "visual"
"""``format=json`` gives ``var visual = ...;``: index.md, Response formats."""


class ErrorCode(StrEnum):
    """Every documented error code (error-codes.md, the table): the one spelling the suite and the
    reference use; a member is its own string, as it appears in answers."""

    COULDNT_CREATE_ALBUM = "couldnt_create_album"
    COULDNT_CREATE_USER = "couldnt_create_user"
    COULDNT_UPDATE_ALBUM = "couldnt_update_album"
    ERROR_PROCESSING_UPLOAD = "error_processing_upload"
    INVALID_ALBUM = "invalid_album"
    INVALID_ALBUM_TOKEN = "invalid_album_token"
    INVALID_INPUT = "invalid_input"
    INVALID_PHOTO_TOKEN = "invalid_photo_token"
    INVALID_SIGNATURE = "invalid_signature"
    NO_FILE = "no_file"
    NO_SUCH_ALBUM = "no_such_album"
    NO_SUCH_PHOTO = "no_such_photo"
    NO_SUCH_TAG = "no_such_tag"
    NO_SUCH_USER = "no_such_user"
    PERMISSION_DENIED = "permission_denied"
    TOKEN_REQUIRED = "token_required"
    USER_ALREADY_EXISTS = "user_already_exists"


DOCUMENTED_ERROR_CODES: frozenset[str] = frozenset(ErrorCode)
"""error-codes.md (the whole platform's list, not only this method's)."""
INPUT_REFUSAL: frozenset[str] = frozenset({ErrorCode.INVALID_INPUT})
"""The refusal the documents give for input a correctly signed, write-level request sends that the
server will not take: malformed parameters (error-codes.md, invalid_input). Never invalid_signature
or permission_denied: the signature and the level are right (the same signing passes elsewhere)."""
PHOTO_REFUSAL: frozenset[str] = INPUT_REFUSAL | {ErrorCode.NO_SUCH_PHOTO}
"""A missing photo_id is malformed input or no photo (error-codes.md, invalid_input, no_such_photo)."""


# --------------------------------------------------------------------------- redeeming
CALLBACK_THRESHOLD = 1500
"""A callback URL up to this length is a redirect, a longer one an HTML form POST:
photo-redeem-replace-token.md, Returns (the text says both "less than" and "at most"; the suite
keeps a margin, see the catalog)."""
TOKEN_NAMES = ("replace_token", "upload_token")
"""The name the callback gives the token: photo-redeem-replace-token.md, Returns, and
browser-based-uploads.md, 4a."""
SUCCESS_PARAMS = ("domain", "photo_id", "tree_id", "token")
"""The parameters of a success callback beside the token (named as in TOKEN_NAMES):
browser-based-uploads.md, 4a."""
ERROR_PARAMS = ("domain", "error_message")
"""The parameters of a failure callback beside the token: browser-based-uploads.md, 4b."""
CALLBACK_PARAMS = frozenset((*TOKEN_NAMES, *SUCCESS_PARAMS, *ERROR_PARAMS))
"""Every documented callback parameter (either token name)."""
