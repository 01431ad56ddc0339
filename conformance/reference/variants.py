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
    settings: Mapping[str, Any] = field(default_factory=dict)  # ReferenceSettings it is served with
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
    Variant("jsonp_comment_prefix",
            "JSONP preceded by JavaScript comments and whitespace, without the trailing ';' (any leading "
            "comment is harmless script; frameworks add one as a content-sniffing guard).",
            knobs={"jsonp_prefix": "// JSONP\n/* generated */ ", "jsonp_semicolon": False}),
    Variant("jsonp_express_guard",
            "JSONP exactly as Express's res.jsonp emits it: \"/**/ typeof NAME === 'function' && "
            "NAME({...});\".",
            knobs={"jsonp_prefix": "/**/ ", "jsonp_typeof_guard": True}),
    Variant("return_url_validated",
            "A return_url that is not an absolute http(s) URL (or IRI) is refused with invalid_input; "
            "the documents describe return_url as a URL and say nothing of other text.",
            knobs={"validate_return_url": True}),
    Variant("missing_photo_no_such_photo",
            "A request without photo_id gets no_such_photo instead of invalid_input.",
            knobs={"missing_photo_code": "no_such_photo"}),
    Variant("empty_return_url_omitted",
            "Without a return_url the field is left out instead of echoed empty.",
            knobs={"omit_empty_return_url": True}),
    Variant("uuid4_hex_tokens",
            "Tokens are the 32 hex digits of a UUID4 (122 random bits: above the 64-bit floor, below the "
            "recommended 128, so a TOKEN-ENTROPY-128 warning); the documents fix no token format.",
            knobs={"token_format": "uuid4_hex"}),
    Variant("base64url_tokens",
            "Tokens are 32 base64url characters of mixed case with '-' and '_' (192 bits); any URL-safe "
            "alphabet is a token.",
            knobs={"token_format": "base64url", "token_bytes": 24}),
    Variant("short_photo_id",
            "The photo's id is '7', which occurs by chance inside most random hex tokens; ids are the "
            "platform's, of any length.",
            settings={"photo_id": "7"}),
    Variant("post_query_refused",
            "A POST carrying API parameters in its URL query is refused with invalid_input instead of "
            "answered with the query ignored; oauth.md says such parameters do not work.",
            knobs={"refuse_post_query": True}),
    Variant("clock_skewed_cluster",
            "Load-balanced nodes whose clocks differ by up to 2 s: each answer's clock (its Date header "
            "and valid_until) lags by 0..2 s, so valid_until may step back a little between answers.",
            knobs={"clock_jitter_seconds": 2}, profile="full"),
    Variant("callback_upload_token_name",
            "Redeem callbacks name the token upload_token, as browser-based-uploads.md (4a, 4b) does for "
            "this flow, instead of replace_token.",
            knobs={"callback_token_name": "upload_token"}, profile="full"),
    Variant("warning_prefixed_redeem_errors",
            "Plain-text redeem errors read 'Warning: <message>' (e.g. 'Warning: This replace token has "
            "expired'); the documents only ask for a plain, unstyled error message.",
            knobs={"redeem_error_prefix": "Warning: "}, profile="full"),
]
# fmt: on

VARIANTS: dict[str, Variant] = {v.name: v for v in VARIANT_LIST}
