"""Conformant variants: servers that differ from the reference only where the spec leaves freedom.

``conformance serve --variant NAME`` starts one; ``conformance selftest`` requires the suite to
PASS every one of them, which is how the suite proves it does not hard-code the reference's
incidental choices (message texts, element order, Content-Type labels, token length...).
A variant is a set of :class:`~conformance.reference.behaviour.Behaviour` knobs plus whatever it
must declare in the target config (e.g. ``bounds_policy = "reject"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.reference.behaviour import Behaviour


@dataclass(frozen=True)
class Variant:
    name: str
    description: str  # the permitted freedom it takes, and where the spec permits it
    knobs: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)  # target-config keys it must declare
    profile: str = "core"  # the suite profile that exercises the difference

    def apply(self, behaviour: Behaviour) -> None:
        for key, value in self.knobs.items():
            if not hasattr(behaviour, key):
                raise AttributeError(f"variant {self.name}: Behaviour has no knob {key!r}")
            setattr(behaviour, key, value)

    def target_config(self) -> dict[str, Any]:
        """The target-config entries this variant needs (merged over the server's own)."""
        return dict(self.config)


# fmt: off
VARIANT_LIST: list[Variant] = [
    Variant("reject_out_of_range",
            "Out-of-range valid_minutes/max_uploads are refused with invalid_input instead of clamped; "
            "the documents give bounds without saying what happens beyond them.",
            knobs={"bounds_policy": "reject"}, config={"bounds_policy": "reject"}),
    Variant("long_tokens",
            "64-hex-digit (256-bit) tokens; the documents fix no token format.",
            knobs={"token_bytes": 32}),
    Variant("redirect_302",
            "Browser callbacks redirect with 302 Found instead of 301.",
            knobs={"redirect_status": 302}, profile="full"),
    Variant("standard_content_types",
            "XML as application/xml and JSON as application/json.",
            knobs={"xml_content_type": "application/xml; charset=UTF-8",
                   "json_content_type": "application/json; charset=UTF-8"}),
    Variant("other_messages",
            "Other message texts for success and every error; messages are free text.",
            knobs={"messages": {
                "issued": "upload token",
                "invalid_signature": "OAuth signature mismatch",
                "permission_denied": "You are not allowed to do that",
                "no_such_photo": "Photo not found",
                "invalid_input": "Bad parameters",
            }}),
    Variant("extra_members",
            "Extra XML attributes and elements and extra JSON keys (the schemas allow unknown members).",
            knobs={"extra_xml_attributes": {"cache_time": "0", "server": "node-7"},
                   "extra_xml_elements": (("title", "Holiday & <friends>"), ("upload_url", "/upload")),
                   "extra_json_members": {"total_count": "1", "debug": {"node": "7"}},
                   "extra_token_members": {"title": "Holiday", "upload_url": "/api/photo/redeem"}}),
    Variant("xml_children_reordered",
            "The token's XML children in reverse order; the XML example does not fix an order.",
            knobs={"xml_reverse_children": True}),
    Variant("xml_attributes_reordered",
            "The <response> attributes in reverse order; XML attribute order carries no meaning.",
            knobs={"xml_reverse_attributes": True}),
    Variant("no_xml_declaration",
            "XML without the <?xml ...?> declaration (UTF-8 is the XML default).",
            knobs={"xml_declaration": False}),
    Variant("ascii_escaped_json",
            "JSON with every non-ASCII character as a \\u escape (json_encode's default).",
            knobs={"json_ensure_ascii": True}),
    Variant("closed_site",
            "A closed site: an unsigned caller's level is 'none' rather than 'anonymous'.",
            knobs={"anonymous_level": "none"}),
    Variant("bad_names_ignored",
            "A varname/callback that is not a JavaScript identifier is ignored (default wrapper) "
            "instead of refused; both are safe.",
            knobs={"refuse_bad_render_names": False}),
    Variant("missing_photo_no_such_photo",
            "A request without photo_id gets no_such_photo instead of invalid_input.",
            knobs={"missing_photo_code": "no_such_photo"}),
    Variant("empty_return_url_omitted",
            "Without a return_url the field is left out instead of echoed empty.",
            knobs={"omit_empty_return_url": True}),
]
# fmt: on

VARIANTS: dict[str, Variant] = {v.name: v for v in VARIANT_LIST}
