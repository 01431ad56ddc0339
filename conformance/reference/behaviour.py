"""The knobs the reference server consults at each step.

Every step of the request pipeline (authenticate, parse params, apply bounds, issue token,
render, redeem, build callback, deliver callback) reads its tunable values and switches from one
:class:`Behaviour` object instead of hard-coding them. A fault (``--fault NAME``) or a conformant
variant (``--variant NAME``) is then a few knobs in its table row (applied by
:mod:`~conformance.reference.selection`), or an ``if behaviour.fault("name"):`` at the single place
that owns the step. This module is a leaf: the tables import it, never the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.spec import (
    CALLBACK_THRESHOLD,
    DEFAULT_VARNAME,
    GET_REPLACE_TOKEN,
    MAX_UPLOADS,
    REQUIRED_LEVEL,
    TOKEN_NAMES,
    VALID_MINUTES,
    ErrorCode,
)


class SimulatedCrash(Exception):
    """Raised by crash faults: the app answers it like an unguarded production stack (HTTP 500 + trace)."""


@dataclass
class Behaviour:
    """Tunable behaviour of one server instance; the defaults are the conformant positions."""

    faults: frozenset[str] = frozenset()
    variant: str | None = None
    bounds_policy: Literal["clamp", "reject"] = "clamp"

    # Authentication
    required_level: str = REQUIRED_LEVEL
    timestamp_window_seconds: int = 300
    check_nonces: bool = True
    accept_explicit_default_port: bool = True  # node-23video style ``https://host:443/...``

    # Parameters
    default_valid_minutes: int = VALID_MINUTES.default
    valid_minutes_bounds: tuple[int, int] = (VALID_MINUTES.low, VALID_MINUTES.high)
    default_max_uploads: int = MAX_UPLOADS.default
    max_uploads_bounds: tuple[int, int] = (MAX_UPLOADS.low, MAX_UPLOADS.high)
    max_return_url_chars: int = 8192
    endpoint: str = GET_REPLACE_TOKEN

    # Tokens
    token_bytes: int = 20  # 40 hex characters, 160 bits
    token_format: Literal["hex", "uuid4_hex", "base64url"] = "hex"  # uuid4_hex ignores token_bytes

    # Clock and HTTP (permitted freedoms, see variants.py)
    clock_jitter_seconds: int = 0  # each answer's API clock is 0..N s behind (a cluster's nodes)
    refuse_post_query: bool = False  # a POST with API parameters in its query -> invalid_input
    other_signature_methods_unsigned: bool = False  # a non-HMAC-SHA1 request counts as unsigned
    front_rate: float = 0.0  # > 0: a token-bucket front (requests/s) answers 429 + Retry-After (front.py)
    front_burst: int = 20  # the front's bucket size

    # Rendering
    xml_content_type: str = "text/xml; charset=utf-8"
    json_content_type: str = "text/javascript; charset=utf-8"
    default_varname: str = DEFAULT_VARNAME
    # Permitted freedoms a conformant variant may take (see variants.py); defaults = the reference.
    messages: dict[str, str] = field(default_factory=dict)  # error code / "issued" -> other message text
    anonymous_level: str = "anonymous"  # an unsigned caller's level ("none" on a closed site)
    refuse_bad_render_names: bool = True  # False: ignore a non-identifier varname/callback instead
    missing_photo_code: str = ErrorCode.INVALID_INPUT
    xml_declaration: bool = True
    xml_reverse_attributes: bool = False
    xml_reverse_children: bool = False
    omit_empty_return_url: bool = False
    json_ensure_ascii: bool = False
    jsonp_prefix: str = ""  # text before a JSONP call, e.g. Express's "/**/ " content-sniffing guard
    jsonp_typeof_guard: bool = False  # "typeof NAME === 'function' && NAME(...)", as Express emits
    jsonp_semicolon: bool = True  # the ";" after a JSONP call
    validate_return_url: bool = False  # refuse a return_url that is not an absolute http(s) URL
    extra_xml_attributes: dict[str, str] = field(default_factory=dict)
    extra_xml_elements: tuple[tuple[str, str], ...] = ()
    extra_json_members: dict[str, object] = field(default_factory=dict)
    extra_token_members: dict[str, object] = field(default_factory=dict)
    site: dict[str, str] = field(
        default_factory=lambda: {
            "product_key": "tube",
            "site_id": "1",
            "site_name": "Conformance Reference Site",
        }
    )

    # Redeem and callbacks
    callback_threshold: int = CALLBACK_THRESHOLD  # a callback URL of at most this length is a redirect
    redirect_status: int = 301
    background_timeout_seconds: float = 5.0
    background_max_chars: int = CALLBACK_THRESHOLD  # no form POST server-side: longer ones are refused
    callback_token_name: str = TOKEN_NAMES[0]  # or the other documented name, "upload_token"
    redeem_error_prefix: str = ""  # put before every plain-text browser-mode redeem error

    def fault(self, name: str) -> bool:
        """True when fault ``name`` is injected; call this at the one step the fault changes."""
        return name in self.faults

    def set_knobs(self, knobs: Mapping[str, Any], owner: str) -> None:
        """Apply a table row's knobs; a knob this class does not have is the row's typo.

        TOML has no tuples: a list value (at any depth) is set as a tuple, as the defaults are.
        """
        for key, value in knobs.items():
            if not hasattr(self, key):
                raise AttributeError(f"{owner}: Behaviour has no knob {key!r}")
            setattr(self, key, _tuples(value))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value
