"""Parameter handling for ``/api/photo/get-replace-token``.

Positions: repeated keys -> the first occurrence wins; an empty value counts as omitted (the
default applies); integers are ASCII digits with an optional leading ``-``, anything else is
``invalid_input``; out-of-range values are clamped to the nearest bound or rejected, per the
server's ``bounds_policy``; ``background_return_p`` is on only for the value ``1``. ``return_url`` is
echoed as given; the ``return_url_validated`` variant refuses one that is not an absolute http(s)
URL or IRI with ``invalid_input``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.spec import ErrorCode

from .behaviour import Behaviour, SimulatedCrash
from .render import XML_INVALID_RE

INT_RE = re.compile(r"^-?[0-9]+$")

# RFC 3987 ucschar (Unicode allowed in an IRI) and iprivate (allowed in its query as well).
_UCSCHAR = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
    + "".join(f"{chr(plane << 16)}-{chr((plane << 16) | 0xFFFD)}" for plane in range(1, 14))
    + "\U000e1000-\U000efffd"
)
_IPRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_IUNRESERVED = "A-Za-z0-9\\-._~" + _UCSCHAR
_SUB_DELIMS = "!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_IPCHAR = f"(?:[{_IUNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
HTTP_IRI_RE = re.compile(
    "(?i:https?)://"
    f"(?:(?:[{_IUNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"  # userinfo
    f"(?:\\[[0-9A-Fa-f:.]+\\]|(?:[{_IUNRESERVED}{_SUB_DELIMS}]|{_PCT})+)"  # host
    "(?::[0-9]*)?"  # port
    f"(?:/(?:{_IPCHAR}|/)*)?"  # path
    f"(?:\\?(?:{_IPCHAR}|[/?{_IPRIVATE}])*)?"  # query
    f"(?:#(?:{_IPCHAR}|[/?])*)?",  # fragment
)
"""An absolute http(s) URL or IRI (RFC 3986/3987): what the return_url_validated variant accepts."""
MAX_INT_DIGITS = 30  # longer numbers are certainly out of range; avoids int() on huge strings


class ParamError(ValueError):
    """Maps to an API error: ``code`` plus a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenRequest:
    photo_id: str
    return_url: str
    background_return_p: bool
    valid_minutes: int
    max_uploads: int


def first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Collapse repeated keys, keeping the first occurrence (documented position)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def parse_int(name: str, raw: str) -> int:
    value = raw.strip()
    if not INT_RE.match(value):
        raise ParamError(ErrorCode.INVALID_INPUT, f"'{name}' must be an integer")
    digits = value.lstrip("-").lstrip("0")
    if len(digits) > MAX_INT_DIGITS:
        return -(10**MAX_INT_DIGITS) if value.startswith("-") else 10**MAX_INT_DIGITS
    return int(value)


def apply_bounds(name: str, value: int, bounds: tuple[int, int], behaviour: Behaviour) -> int:
    """Clamp to the nearest bound, or refuse, depending on the bounds policy."""
    low, high = bounds
    if low <= value <= high:
        return value
    if behaviour.bounds_policy == "reject":
        code = (
            ErrorCode.PERMISSION_DENIED
            if behaviour.fault("out_of_range_permission_denied")
            else ErrorCode.INVALID_INPUT
        )
        raise ParamError(code, f"'{name}' must be between {low} and {high}")
    return min(max(value, low), high)


def bounded_int(
    params: dict[str, str], name: str, default: int, bounds: tuple[int, int], behaviour: Behaviour
) -> int:
    raw = params.get(name, "")
    if raw.strip() == "":
        return default
    if behaviour.fault("malformed_int_500") and not INT_RE.match(raw.strip()):
        raise SimulatedCrash(f"ValueError: invalid literal for int() with base 10: {raw!r}")
    value = parse_int(name, raw)
    if behaviour.fault("huge_int_500") and not -(2**31) <= value < 2**31:
        raise SimulatedCrash(f"DataError: value {value} is out of range for type integer")
    if behaviour.fault("out_of_range_to_default") and not bounds[0] <= value <= bounds[1]:
        return default
    return apply_bounds(name, value, bounds, behaviour)


def parse_token_request(params: dict[str, str], behaviour: Behaviour) -> TokenRequest:
    """Validate and normalise the method parameters (photo existence is checked by the caller)."""
    if behaviour.fault("missing_photo_id_500") and "photo_id" not in params:
        raise SimulatedCrash("KeyError: 'photo_id'")
    photo_id = params.get("photo_id", "").strip()
    if not photo_id:
        raise ParamError(behaviour.missing_photo_code, "'photo_id' is required")
    return_url = params.get("return_url", "")
    if behaviour.fault("utf8_read_as_latin1"):
        return_url = return_url.encode("utf-8").decode("latin-1")
    if len(return_url) > behaviour.max_return_url_chars:
        raise ParamError(
            ErrorCode.INVALID_INPUT, f"'return_url' is longer than {behaviour.max_return_url_chars}"
        )
    if behaviour.fault("long_return_url_invalid_signature") and len(return_url) > 255:
        raise ParamError(ErrorCode.INVALID_SIGNATURE, "The API signature is invalid.")
    if behaviour.fault("return_url_refused") and return_url:
        raise ParamError(ErrorCode.INVALID_INPUT, "'return_url' is not accepted")
    if XML_INVALID_RE.search(return_url) and not behaviour.fault("control_chars_unfiltered"):
        raise ParamError(
            ErrorCode.INVALID_INPUT, "'return_url' contains characters that cannot be represented"
        )
    if behaviour.validate_return_url and return_url and not HTTP_IRI_RE.fullmatch(return_url):
        raise ParamError(ErrorCode.INVALID_INPUT, "'return_url' must be an absolute http or https URL")
    background = params.get("background_return_p", "").strip() == "1"
    valid_minutes = bounded_int(
        params, "valid_minutes", behaviour.default_valid_minutes, behaviour.valid_minutes_bounds, behaviour
    )
    max_uploads = bounded_int(
        params, "max_uploads", behaviour.default_max_uploads, behaviour.max_uploads_bounds, behaviour
    )
    if behaviour.fault("max_uploads_ignored"):
        max_uploads = behaviour.default_max_uploads
    return TokenRequest(photo_id, return_url, background, valid_minutes, max_uploads)
