"""Safe parsing of response bodies: wrappers, hostile XML, garbage in -> ResponseParseError out."""

from __future__ import annotations

import json
import pathlib
from xml.etree.ElementTree import Element

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.parse.responses import (
    ParsedResponse,
    ResponseParseError,
    parse_response,
    sniff_format,
    unwrap_json,
)

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "spec_examples"
OK_XML = (FIXTURES / "get-replace-token.ok.xml").read_bytes()
OK_JSON_TEXT = (FIXTURES / "get-replace-token.ok.json").read_text(encoding="utf-8")

TRICKY = {
    "status": "ok",
    "message": 'ends with "}); var x = {" and (parens; semicolons;',
    "permission_level": "write",
    "replacetoken": {"replace_token": "a};b", "return_url": "http://e.com/cb?x=(1);y={2}"},
}


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (OK_XML, "xml"),
        (b"\xef\xbb\xbf  <response/>", "xml"),
        (b"<html><body>Oops</body></html>", "xml"),
        (b'{"status": "ok"}', "json"),
        (b'\n\n var visual = {"status": "ok"};', "json"),
        (b'cb({"status": "ok"});', "json"),
        (b'app.handlers.done ({"status": "ok"})', "json"),
        (b'/**/ typeof cb === "function" && cb({"status": "ok"});', "json"),
        (b'// x\n/**/cb({"status": "ok"})', "json"),
        (b"", None),
        (b"Internal Server Error", None),
        (b"\x00\x01\x02binary", None),
    ],
)
def test_sniff_format(body: bytes, expected: str | None) -> None:
    assert sniff_format(body) == expected


# --------------------------------------------------------------------------- XML


def test_documented_xml_example_is_parsed_into_attributes_and_fields() -> None:
    parsed = parse_response(OK_XML)
    assert isinstance(parsed, ParsedResponse)
    assert (parsed.format, parsed.wrapper, parsed.wrapper_name) == ("xml", "xml", None)
    assert parsed.status == "ok"
    assert parsed.attributes == {
        "status": "ok",
        "permission_level": "write",
        "message": "The replace token is ready to use",
        "cached": "0",
    }
    assert parsed.fields == {
        "replace_token": "022fe6e3fb42758d6147c539727c5358af3524b1",
        "photo_id": "123456",
        "max_uploads": "1",
        "valid_minutes": "180",
        "valid_until": "1266711372",
        "return_url": "http://www.example.com/upload/callback?theme=green",
    }
    assert isinstance(parsed.document, Element)
    assert parsed.document.tag == "response"


def test_empty_xml_element_is_an_empty_string_field() -> None:
    parsed = parse_response(b'<response status="ok"><return_url/></response>')
    assert parsed.fields == {"return_url": ""}


def test_escaped_ampersand_is_decoded() -> None:
    parsed = parse_response(
        b'<response status="ok"><return_url>http://a/?x=1&amp;y=2</return_url></response>'
    )
    assert parsed.fields["return_url"] == "http://a/?x=1&y=2"


XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE response [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
    b'<response status="ok"><replace_token>&e;</replace_token></response>'
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<response status="ok"><replace_token>&lol9;</replace_token></response>'
)
EXTERNAL_DTD = b'<!DOCTYPE response SYSTEM "http://attacker.invalid/x.dtd"><response status="ok"/>'
PARAMETER_ENTITY = b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><response status="ok"/>'


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_dtd_and_entities_are_refused_without_resolving_them(body: bytes) -> None:
    with pytest.raises(ResponseParseError, match="DTD/entity declaration") as info:
        parse_response(body)
    message = str(info.value)
    assert "XXE" in message
    assert "root:" not in message  # nothing from /etc/passwd
    assert "lollollol" not in message  # nothing expanded


def test_xxe_never_leaks_a_local_file(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    body = (
        f'<!DOCTYPE response [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'
        '<response status="ok"><replace_token>&e;</replace_token></response>'
    ).encode()
    with pytest.raises(ResponseParseError) as info:
        parse_response(body)
    assert "TOP-SECRET-CONTENT" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "body is empty"),
        (b"  \n\t ", "body is empty"),
        (b"\x00\x9f\x92\x96\xff", "neither XML nor JSON"),
        (b"Internal Server Error", "neither XML nor JSON"),
        (b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML page"),
        (b"<html><head><title>Error</title></head></html>", "HTML page"),
        (b"<HTML><BODY>x</BODY></HTML>", "HTML page"),
        (b'<response status="ok">caf\xe9</response>', "not valid UTF-8: byte 0xe9"),
        (b'<response status="ok"><a>1</a>', "not well-formed XML"),
        (b'<response status="ok"/><response status="ok"/>', "not well-formed XML"),
        (b"<response status=ok/>", "not well-formed XML"),
    ],
)
def test_bad_bodies_raise_a_specific_parse_error(body: bytes, fragment: str) -> None:
    with pytest.raises(ResponseParseError, match=fragment):
        parse_response(body)


def test_unescaped_ampersand_error_points_at_the_element() -> None:
    body = b'<response status="ok">\n  <return_url>http://a/?x=1&y=2</return_url>\n</response>'
    with pytest.raises(ResponseParseError, match="not well-formed XML") as info:
        parse_response(body)
    assert "return_url" in str(info.value)


def test_declared_latin1_xml_is_decoded_by_its_declaration() -> None:
    body = b'<?xml version="1.0" encoding="ISO-8859-1"?><response status="ok"><m>caf\xe9</m></response>'
    assert parse_response(body).fields == {"m": "café"}


def test_expected_format_mismatch_is_reported() -> None:
    with pytest.raises(ResponseParseError, match="expected a JSON response, got XML"):
        parse_response(OK_XML, expected="json")
    with pytest.raises(ResponseParseError, match="expected a XML response, got JSON"):
        parse_response(OK_JSON_TEXT.encode(), expected="xml")


# --------------------------------------------------------------------------- JSON wrappers


@pytest.mark.parametrize(
    ("template", "wrapper", "name"),
    [
        ("var visual = {};", "var", "visual"),
        ("var custom = {};", "var", "custom"),
        ("var visual={}", "var", "visual"),
        ("\n\n  var   visual\n=\n{}\n;\n\n", "var", "visual"),
        ("cb({});", "callback", "cb"),
        ("updateTags( {} )", "callback", "updateTags"),
        ("app.handlers.$done_1(\n{}\n);\n", "callback", "app.handlers.$done_1"),
        ("{}", "raw", None),
        ("\ufeff  {}  \n", "raw", None),
        # Leading JavaScript comments, and Express's res.jsonp guard (FORMAT-JSONP position).
        ("/**/cb({});", "callback", "cb"),
        ("/**/ typeof cb === 'function' && cb({});", "callback", "cb"),
        ('/* a */ typeof app.cb == "function"&&app.cb({})', "callback", "app.cb"),
        ("// generated\n/* x */\n cb({})", "callback", "cb"),
        ("// x\u2028var visual = {};", "var", "visual"),
    ],
)
def test_json_wrappers_are_unwrapped(template: str, wrapper: str, name: str | None) -> None:
    text = template.replace("{}", json.dumps(TRICKY, indent=2))
    assert unwrap_json(text) == (wrapper, name, TRICKY)
    parsed = parse_response(text.encode("utf-8"))
    assert (parsed.format, parsed.wrapper, parsed.wrapper_name) == ("json", wrapper, name)
    assert parsed.document == TRICKY
    assert parsed.fields["replace_token"] == "a};b"


def test_documented_json_example_is_parsed() -> None:
    parsed = parse_response(f"var visual = {OK_JSON_TEXT};".encode())
    assert parsed.status == "ok"
    assert parsed.attributes["endpoint"] == "/api/photo/get-replace-token"
    assert parsed.attributes["cached"] == "0"
    assert "site" not in parsed.attributes and "replacetoken" not in parsed.attributes
    assert parsed.fields["valid_until"] == "1266713254"
    assert parsed.fields["photo_id"] == "123456"


def test_non_string_json_values_stay_visible() -> None:
    body = b'{"status": "ok", "cached": 0, "replacetoken": {"max_uploads": 1, "photo_id": null, "x": true}}'
    parsed = parse_response(body)
    assert parsed.fields == {"max_uploads": "1", "photo_id": "null", "x": "true"}
    assert parsed.raw_fields == {"max_uploads": 1, "photo_id": None, "x": True}
    assert parsed.attributes["cached"] == "0"
    assert parsed.raw_attributes["cached"] == 0


def test_json_status_missing_is_none() -> None:
    assert parse_response(b'{"a": "b"}').status is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("visual = {};", "JSON wrapper: expected 'var NAME = {...};'"),
        ("<!-- x --> {}", "expected a JSON response, got XML"),
        ("var 1x = {};", "JSON wrapper: expected"),
        ('var visual = {"a": "b"} extra', "trailing 'extra'"),
        ('cb({"a": "b"}', "expected '\\)' to close the callback cb"),
        ('cb({"a": "b"});;', "trailing ';'"),
        ('{"a": "b"};', "end of body after the JSON object"),
        ("var visual = [1, 2];", "must be an object, got list"),
        ('var visual = "ok";', "must be an object, got str"),
        ('var visual = {"a": };', "not valid JSON"),
        ('{"a": NaN}', "NaN is not a JSON value"),
        ('/**/{"a": "b"}', "bare JSON must not start with a JavaScript comment"),
        ('/**/alert(1);//({"a": "b"})', "trailing '//"),
        ('// x\u2028alert(1)\ncb({"a": "b"})', "trailing 'cb"),
        ("/* unclosed cb({})", "JSON wrapper: expected"),
        ("typeof x === 'function' && cb({})", "guards a call of another name, cb"),
        ("{'a': 'b'}", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_json_raises_a_specific_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(ResponseParseError, match=fragment):
        parse_response(text.encode("utf-8"), expected="json")


def test_non_utf8_json_is_reported() -> None:
    with pytest.raises(ResponseParseError, match="not valid UTF-8: byte 0xff at offset 14"):
        parse_response(b'{"message": "a\xff"}')


def test_unwrap_json_rejects_empty_text() -> None:
    with pytest.raises(ResponseParseError, match="body is empty"):
        unwrap_json("   ")


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_parse_error(body: bytes) -> None:
    try:
        parsed = parse_response(body)
    except ResponseParseError as exc:
        assert str(exc)
    else:
        assert parsed.format in {"xml", "json"}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "var visual = ", "var x=", "cb(", "{", "<response", "<?xml", "<!DOCTYPE r ["]),
    st.text(max_size=120),
)
def test_arbitrary_wrapper_like_text_never_crashes(prefix: str, rest: str) -> None:
    """Any input either parses into a response document or raises the one documented error."""
    try:
        parsed = parse_response((prefix + rest).encode("utf-8"))
    except ResponseParseError as exc:
        assert str(exc)  # a specific reason, never an empty message
    else:
        assert parsed.format in ("xml", "json") and isinstance(parsed.fields, dict)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    st.sampled_from(["var", "cb", "raw"]),
)
def test_any_string_object_round_trips_through_every_wrapper(obj: dict[str, str], wrapper: str) -> None:
    text = json.dumps(obj)
    body = {"var": f"var visual = {text};", "cb": f"cb({text});", "raw": text}[wrapper]
    assert parse_response(body.encode("utf-8")).document == obj
