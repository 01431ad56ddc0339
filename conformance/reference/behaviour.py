"""The knobs the reference server consults at each step.

Every step of the request pipeline (authenticate, parse params, apply bounds, issue token,
render, redeem, build callback, deliver callback) reads its tunable values and switches from one
:class:`Behaviour` object instead of hard-coding them. A fault (``--fault NAME``) or a conformant
variant (``--variant NAME``) is then a one-line change of a knob in :meth:`Behaviour.from_settings`,
or an ``if behaviour.fault("name"):`` at the single place that owns the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

LEVELS: tuple[str, ...] = ("none", "anonymous", "read", "write", "admin", "super")
"""Permission levels in ascending order (index.md, Permission levels)."""

JS_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
"""What a ``varname``/``callback`` must look like (docs/ARCHITECTURE.md)."""


class SimulatedCrash(Exception):
    """Raised by crash faults: the app answers it like an unguarded production stack (HTTP 500 + trace)."""


class UnknownBehaviourName(ValueError):
    """``--fault``/``--variant`` named something the tables do not have."""


@dataclass
class Behaviour:
    """Tunable behaviour of one server instance; the defaults are the conformant positions."""

    faults: frozenset[str] = frozenset()
    variant: str | None = None
    bounds_policy: Literal["clamp", "reject"] = "clamp"

    # Authentication
    required_level: str = "write"
    timestamp_window_seconds: int = 300
    check_nonces: bool = True
    accept_explicit_default_port: bool = True  # node-23video style ``https://host:443/...``

    # Parameters
    default_valid_minutes: int = 180
    valid_minutes_bounds: tuple[int, int] = (15, 1440)
    default_max_uploads: int = 1
    max_uploads_bounds: tuple[int, int] = (1, 100)
    max_return_url_chars: int = 8192
    endpoint: str = "/api/photo/get-replace-token"

    # Tokens
    token_bytes: int = 20  # 40 hex characters, 160 bits
    token_format: Literal["hex", "uuid4_hex", "base64url"] = "hex"  # uuid4_hex ignores token_bytes

    # Clock and HTTP (permitted freedoms, see variants.py)
    clock_jitter_seconds: int = 0  # each answer's API clock is 0..N s behind (a cluster's nodes)
    refuse_post_query: bool = False  # a POST with API parameters in its query -> invalid_input

    # Rendering
    xml_content_type: str = "text/xml; charset=utf-8"
    json_content_type: str = "text/javascript; charset=utf-8"
    default_varname: str = "visual"
    # Permitted freedoms a conformant variant may take (see variants.py); defaults = the reference.
    messages: dict[str, str] = field(default_factory=dict)  # error code / "issued" -> other message text
    anonymous_level: str = "anonymous"  # an unsigned caller's level ("none" on a closed site)
    refuse_bad_render_names: bool = True  # False: ignore a non-identifier varname/callback instead
    missing_photo_code: str = "invalid_input"
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
    callback_threshold: int = 1500  # a callback URL of at most this many characters is a redirect
    redirect_status: int = 301
    background_timeout_seconds: float = 5.0
    background_max_chars: int = 1500
    callback_token_name: str = "replace_token"  # or "upload_token" (browser-based-uploads.md, 4a/4b)
    redeem_error_prefix: str = ""  # put before every plain-text browser-mode redeem error

    def fault(self, name: str) -> bool:
        """True when fault ``name`` is injected; call this at the one step the fault changes."""
        return name in self.faults

    @classmethod
    def from_settings(
        cls,
        faults: frozenset[str],
        variant: str | None,
        bounds_policy: Literal["clamp", "reject"],
    ) -> Behaviour:
        """Build the behaviour for a server: the variant's knobs, then each fault's knob tweak.

        Names are checked against the tables so a typo fails loudly instead of serving the clean
        reference under a fault's name. Raises :class:`UnknownBehaviourName`.
        """
        from .faults import FAULTS
        from .variants import VARIANTS

        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise UnknownBehaviourName(
                f"unknown fault(s) {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}"
            )
        if variant is not None and variant not in VARIANTS:
            raise UnknownBehaviourName(
                f"unknown variant {variant!r}; known variants: {', '.join(sorted(VARIANTS))}"
            )
        behaviour = cls(faults=frozenset(faults), variant=variant, bounds_policy=bounds_policy)
        if variant is not None:
            VARIANTS[variant].apply(behaviour)
        for name in sorted(faults):
            tweak = FAULTS[name].tweak
            if tweak is not None:
                tweak(behaviour)
        return behaviour


def level_at_least(actual: str, required: str) -> bool:
    """Whether ``actual`` grants everything ``required`` does (levels are cumulative)."""
    return LEVELS.index(actual) >= LEVELS.index(required)
