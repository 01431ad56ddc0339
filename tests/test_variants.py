"""Conformant variants: each is a real difference on the wire, stays schema-valid, and declares its config.

That the suite PASSES every variant is proven by ``conformance selftest`` (tests/test_selftest.py).
"""

from __future__ import annotations

import re

import pytest

from conformance.parse.schemas import validate_json_response, validate_xml_response
from conformance.reference import ReferenceServer, ReferenceSettings
from conformance.reference.behaviour import Behaviour
from conformance.reference.selection import behaviour_for
from conformance.reference.variants import VARIANT_LIST, VARIANTS
from tests.reference_helpers import PHOTO_ID, get_token, js, xml


def _serve(variant: str) -> ReferenceServer:
    return ReferenceServer(ReferenceSettings(variant=variant))


def test_table() -> None:
    assert len(VARIANT_LIST) >= 7
    assert len(VARIANTS) == len(VARIANT_LIST)
    for v in VARIANT_LIST:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", v.name) and v.description.strip(), v.name
        assert v.profile in ("core", "full")
        Behaviour().set_knobs(v.knobs, v.name)  # every knob exists
        assert behaviour_for(frozenset(), v.name, "clamp") != Behaviour(), v.name


def test_table_lists_become_tuples_like_the_knob_defaults() -> None:
    """TOML has no tuples: a list knob in variants.toml is served as the tuple the default is."""
    elements = behaviour_for(frozenset(), "extra_members", "clamp").extra_xml_elements
    assert elements == (("title", "Holiday & <friends>"), ("upload_url", "/upload"))
    assert isinstance(elements, tuple) and all(isinstance(e, tuple) for e in elements)


def test_variant_config_is_declared_and_matches_the_behaviour() -> None:
    with _serve("reject_out_of_range") as server:
        assert server.target_config()["bounds_policy"] == "reject"
        resp = get_token(server, {"photo_id": PHOTO_ID, "valid_minutes": "14"})
        assert xml(resp).get("code") == "invalid_input"


def test_variant_config_wins_over_the_bounds_policy_setting() -> None:
    with ReferenceServer(ReferenceSettings(variant="reject_out_of_range", bounds_policy="clamp")) as server:
        assert server.target_config()["bounds_policy"] == "reject"


@pytest.mark.parametrize("variant", [v.name for v in VARIANT_LIST])
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_variant_responses_stay_schema_valid(variant: str, fmt: str) -> None:
    """Every variant's success and error validate against the shipped schemas (which the suite uses)."""
    extra = {"format": "json"} if fmt == "json" else {}
    with _serve(variant) as server:
        for resp in (
            get_token(server, {"photo_id": PHOTO_ID, "return_url": "https://example.com/é?a=1&b=2", **extra}),
            get_token(server, {"photo_id": PHOTO_ID, **extra}, level="anonymous"),
        ):
            assert resp.status_code == 200
            violations = (
                validate_xml_response(resp.content) if fmt == "xml" else validate_json_response(js(resp)[2])
            )
            assert [v for v in violations if v.severity == "error"] == [], (variant, resp.text)


def test_observable_differences() -> None:
    with _serve("long_tokens") as server:
        assert re.fullmatch(r"[0-9a-f]{64}", xml(get_token(server)).findtext("replace_token") or "")
    with _serve("no_xml_declaration") as server:
        assert get_token(server).content.startswith(b"<response")
    with _serve("standard_content_types") as server:
        assert get_token(server).headers["Content-Type"].startswith("application/xml")
        assert (
            get_token(server, {"photo_id": PHOTO_ID, "format": "json"})
            .headers["Content-Type"]
            .startswith("application/json")
        )
    with _serve("ascii_escaped_json") as server:
        body = get_token(
            server, {"photo_id": PHOTO_ID, "format": "json", "return_url": "https://x/日本"}
        ).content
        assert body.isascii() and b"\\u65e5" in body
    with _serve("closed_site") as server:
        assert xml(get_token(server, level="anonymous")).get("permission_level") == "none"
    with _serve("xml_children_reordered") as server:
        assert next(c.tag for c in xml(get_token(server))) == "return_url"
    with _serve("xml_attributes_reordered") as server:
        assert get_token(server).text.split("\n")[1].startswith("<response cached=")
    with _serve("bad_names_ignored") as server:
        resp = get_token(server, {"photo_id": PHOTO_ID, "format": "json", "callback": "a b"})
        wrapper, name, obj = js(resp)
        assert (wrapper, name, obj["status"]) == ("var", "visual", "ok")
    with _serve("missing_photo_no_such_photo") as server:
        assert xml(get_token(server, {})).get("code") == "no_such_photo"
    with _serve("empty_return_url_omitted") as server:
        assert xml(get_token(server)).find("return_url") is None
    with _serve("other_messages") as server:
        assert xml(get_token(server)).get("message") == "upload token"
    with _serve("extra_members") as server:
        assert xml(get_token(server)).findtext("title") == "Holiday & <friends>"


def test_jsonp_and_return_url_variants_differ_on_the_wire() -> None:
    """The JSONP forms the suite must accept, and a validated return_url, are what these variants serve."""
    jsonp = {"photo_id": PHOTO_ID, "format": "json", "callback": "cb"}
    with _serve("jsonp_express_guard") as server:
        assert get_token(server, jsonp).text.startswith("/**/ typeof cb === 'function' && cb({")
        assert get_token(server, jsonp, level="anonymous").text.rstrip().endswith("});")  # errors too
    with _serve("jsonp_comment_prefix") as server:
        body = get_token(server, jsonp).text
        assert body.startswith("// JSONP\n/* generated */ cb({") and body.rstrip().endswith("})")
    with _serve("return_url_validated") as server:
        refused = get_token(server, {"photo_id": PHOTO_ID, "return_url": "not a url"})
        assert xml(refused).get("code") == "invalid_input"
        iri = "https://e.com/日本?q=é&r=%20#frag"
        assert xml(get_token(server, {"photo_id": PHOTO_ID, "return_url": iri})).findtext("return_url") == iri
