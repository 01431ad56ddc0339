"""Reference server: get-replace-token parameters, formats, wrappers, bounds, headers, robustness."""

from __future__ import annotations

import email.utils
import json
import socket

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.reference import ReferenceServer
from conformance.spec import MAX_UPLOADS, VALID_MINUTES
from tests.reference_helpers import GET_TOKEN, PHOTO_ID, get_token, issue, js, server_fixture, xml

ref = server_fixture()
strict = server_fixture(bounds_policy="reject")

TRICKY_URLS = [
    "http://www.example.com/upload/callback?theme=green",
    "https://example.com/cb?a=1&b=<tag>&c=\"q\"&d='s'",
    "https://exämple.com/ünïcödé/😀𝄞?q=日本語",
    "https://example.com/</script><script>alert(1)</script>",
    "https://example.com/\u2028line\u2029sep",
    "  spaced  ",
]


def test_xml_is_the_default(ref: ReferenceServer) -> None:
    resp = get_token(ref)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = xml(resp)
    assert root.tag == "response"
    assert (root.get("status"), root.get("permission_level"), root.get("cached")) == ("ok", "write", "0")
    assert [c.tag for c in root] == [
        "replace_token",
        "photo_id",
        "max_uploads",
        "valid_minutes",
        "valid_until",
        "return_url",
    ]


def test_json_default_wrapper_and_shape(ref: ReferenceServer) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "format": "json", "return_url": "http://x/cb"})
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    wrapper, name, obj = js(resp)
    assert (wrapper, name) == ("var", "visual")
    assert list(obj) == [
        "status",
        "message",
        "permission_level",
        "cached",
        "replacetoken",
        "p",
        "size",
        "site",
        "endpoint",
    ]
    assert obj["endpoint"] == GET_TOKEN
    assert (obj["p"], obj["size"], obj["cached"]) == ("1", "1", "0")
    assert set(obj["replacetoken"]) == {
        "valid_minutes",
        "replace_token",
        "max_uploads",
        "return_url",
        "valid_until",
        "photo_id",
    }
    host = ref.base_url.removeprefix("http://")
    assert obj["site"]["domain"] == host
    assert set(obj["site"]) == {"domain", "product_key", "site_id", "site_name"}
    scalars = [v for v in obj.values() if not isinstance(v, dict)]
    scalars += list(obj["replacetoken"].values()) + list(obj["site"].values())
    assert all(isinstance(v, str) for v in scalars)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"varname": "tok"}, ("var", "tok")),
        ({"varname": "a.b_c$"}, ("var", "a.b_c$")),
        ({"raw": ""}, ("raw", "")),
        ({"raw": "1", "varname": "tok"}, ("raw", "")),
        ({"callback": "cb.handle"}, ("callback", "cb.handle")),
        ({"callback": "cb", "raw": "1", "varname": "tok"}, ("callback", "cb")),
        ({"varname": ""}, ("var", "visual")),
    ],
)
def test_json_wrappers_and_precedence(
    ref: ReferenceServer, extra: dict[str, str], expected: tuple[str, str]
) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "format": "json", **extra})
    wrapper, name, obj = js(resp)
    assert (wrapper, name) == expected
    assert obj["status"] == "ok"


def test_wrapper_options_are_ignored_for_xml(ref: ReferenceServer) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "callback": "cb", "varname": "v"})
    assert xml(resp).get("status") == "ok"


@pytest.mark.parametrize("param", ["varname", "callback"])
@pytest.mark.parametrize("name", ["alert(1)", "a b", "1abc", "a..b", "<script>", "x;y", "a.", "ü"])
def test_invalid_names_are_refused_not_reflected(ref: ReferenceServer, param: str, name: str) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "format": "json", param: name})
    wrapper, var, obj = js(resp)
    assert (wrapper, var) == ("var", "visual")
    assert (obj["status"], obj["code"], obj["permission_level"]) == ("error", "invalid_input", "write")
    assert name not in resp.text


def test_json_error_shape(ref: ReferenceServer) -> None:
    _, _, obj = js(get_token(ref, {"photo_id": PHOTO_ID, "format": "json"}, level="read"))
    assert obj == {
        "status": "error",
        "code": "permission_denied",
        "message": obj["message"],
        "permission_level": "read",
        "endpoint": GET_TOKEN,
    }


def test_json_is_raw_utf8_and_script_safe(ref: ReferenceServer) -> None:
    url = "https://example.com/</script>\u2028ü😀"
    resp = get_token(ref, {"photo_id": PHOTO_ID, "format": "json", "return_url": url})
    assert "<\\/script>" in resp.text and "\\u2028" in resp.text
    assert "ü😀".encode() in resp.content
    assert js(resp)[2]["replacetoken"]["return_url"] == url


@pytest.mark.parametrize("url", TRICKY_URLS)
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_return_url_round_trips_exactly(ref: ReferenceServer, url: str, fmt: str) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "format": fmt, "return_url": url})
    if fmt == "xml":
        assert xml(resp).findtext("return_url") == url
    else:
        assert js(resp)[2]["replacetoken"]["return_url"] == url


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=60))
def test_return_url_round_trips_property(ref: ReferenceServer, url: str) -> None:
    if "\ufffe" in url or "\uffff" in url:
        return
    resp = get_token(ref, {"photo_id": PHOTO_ID, "return_url": url}, method="POST")
    assert xml(resp).findtext("return_url") == url


def test_defaults_and_empty_values(ref: ReferenceServer) -> None:
    for params in ({}, {"valid_minutes": "", "max_uploads": "", "return_url": "", "background_return_p": ""}):
        fields = issue(ref, **params)
        assert (fields["valid_minutes"], fields["max_uploads"], fields["return_url"]) == ("180", "1", "")


# The documented bounds (spec.py), their neighbours and values far outside them.
VM, MU = VALID_MINUTES, MAX_UPLOADS


@pytest.mark.parametrize(
    ("name", "value", "clamped"),
    [
        ("valid_minutes", "1", str(VM.low)),
        ("valid_minutes", "-5", str(VM.low)),
        ("valid_minutes", str(VM.low - 1), str(VM.low)),
        ("valid_minutes", str(VM.low), str(VM.low)),
        ("valid_minutes", str(VM.high), str(VM.high)),
        ("valid_minutes", str(VM.high + 1), str(VM.high)),
        ("valid_minutes", "9" * 500, str(VM.high)),
        ("max_uploads", str(MU.low - 1), str(MU.low)),
        ("max_uploads", str(MU.high), str(MU.high)),
        ("max_uploads", str(MU.high + 1), str(MU.high)),
        ("max_uploads", " 7 ", "7"),
    ],
)
def test_bounds_clamp(ref: ReferenceServer, name: str, value: str, clamped: str) -> None:
    assert issue(ref, **{name: value})[name] == clamped


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("valid_minutes", str(VM.low - 1), False),
        ("valid_minutes", str(VM.low), True),
        ("valid_minutes", str(VM.high), True),
        ("valid_minutes", str(VM.high + 1), False),
        ("max_uploads", str(MU.low - 1), False),
        ("max_uploads", str(MU.low), True),
        ("max_uploads", str(MU.high), True),
        ("max_uploads", "101", False),
    ],
)
def test_bounds_reject(strict: ReferenceServer, name: str, value: str, ok: bool) -> None:
    root = xml(get_token(strict, {"photo_id": PHOTO_ID, name: value}))
    if ok:
        assert root.get("status") == "ok"
        assert root.findtext(name) == value
    else:
        assert (root.get("status"), root.get("code")) == ("error", "invalid_input")


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0x10", "١٢"])
@pytest.mark.parametrize("name", ["valid_minutes", "max_uploads"])
def test_non_integers_are_invalid_input(ref: ReferenceServer, name: str, value: str) -> None:
    root = xml(get_token(ref, {"photo_id": PHOTO_ID, name: value}))
    assert (root.get("status"), root.get("code")) == ("error", "invalid_input")


@pytest.mark.parametrize(
    ("photo_id", "code"),
    [
        (None, "invalid_input"),
        ("", "invalid_input"),
        ("999999999", "no_such_photo"),
        ("abc", "no_such_photo"),
    ],
)
def test_photo_id_errors(ref: ReferenceServer, photo_id: str | None, code: str) -> None:
    params = {} if photo_id is None else {"photo_id": photo_id}
    root = xml(get_token(ref, params))
    assert (root.get("status"), root.get("code"), root.get("permission_level")) == ("error", code, "write")


def test_repeated_keys_take_the_first(ref: ReferenceServer) -> None:
    root = xml(
        get_token(
            ref,
            [("photo_id", PHOTO_ID), ("photo_id", "999999999"), ("max_uploads", "3"), ("max_uploads", "5")],
        )
    )
    assert root.get("status") == "ok"
    assert root.findtext("max_uploads") == "3"


def test_tokens_are_unique_160_bit_hex(ref: ReferenceServer) -> None:
    tokens = [issue(ref)["replace_token"] for _ in range(25)]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 40 and int(t, 16) >= 0 and t == t.lower() for t in tokens)


@pytest.mark.parametrize("minutes", [str(VM.low), str(VM.default), str(VM.high)])
def test_valid_until_matches_date_header(ref: ReferenceServer, minutes: str) -> None:
    resp = get_token(ref, {"photo_id": PHOTO_ID, "valid_minutes": minutes})
    assert len(resp.raw.headers.getlist("Date")) == 1
    issued = int(email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp())
    assert int(xml(resp).findtext("valid_until")) == issued + int(minutes) * 60


def test_test_hooks_are_off_by_default(ref: ReferenceServer) -> None:
    assert (
        requests.post(ref.base_url + "/_test/clock", data={"advance_seconds": "5"}, timeout=5).status_code
        == 404
    )
    assert requests.get(f"{ref.base_url}/_test/photo/{PHOTO_ID}", timeout=5).status_code == 404


# -- hostile input: always a well-formed API error with HTTP 200 ------------------------------
def _raw_http(server: ReferenceServer, request: bytes) -> bytes:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _api_error(resp: requests.Response) -> str | None:
    assert resp.status_code == 200, resp.text
    root = xml(resp)
    assert root.get("status") == "error"
    return root.get("code")


def test_bad_utf8_in_query_and_body(ref: ReferenceServer) -> None:
    url = ref.base_url + GET_TOKEN
    assert _api_error(requests.get(url + "?photo_id=123456&return_url=%FF%FE", timeout=5)) == "invalid_input"
    resp = requests.post(
        url,
        data=b"photo_id=123456&return_url=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert _api_error(resp) == "invalid_input"
    raw = _raw_http(
        ref,
        b"GET " + GET_TOKEN.encode() + b"?photo_id=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 200") or raw.startswith(b"HTTP/1.0 200")
    # Raw (unencoded) bytes in the request line are not valid HTTP; all we promise is a clean answer.
    assert b'<response status="error"' in raw


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/json", json.dumps({"photo_id": PHOTO_ID}).encode()),
        ("text/plain", b"photo_id=123456"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
        ("multipart/form-data", b"no boundary"),
        ("application/x-www-form-urlencoded; charset=utf-8", b"%%%=&&=="),
    ],
)
def test_weird_bodies_get_api_errors(ref: ReferenceServer, ctype: str, body: bytes) -> None:
    resp = requests.post(ref.base_url + GET_TOKEN, data=body, headers={"Content-Type": ctype}, timeout=5)
    assert resp.status_code == 200
    assert xml(resp).get("status") == "error"


def test_other_methods_and_huge_values(ref: ReferenceServer) -> None:
    assert _api_error(requests.put(ref.base_url + GET_TOKEN, data="x", timeout=5)) == "invalid_input"
    resp = get_token(ref, {"photo_id": PHOTO_ID, "return_url": "x" * 20000}, method="POST")
    assert _api_error(resp) == "invalid_input"
    resp = requests.post(
        ref.base_url + GET_TOKEN,
        data={"photo_id": PHOTO_ID, "junk": "y" * (3 * 1024 * 1024)},
        timeout=10,
    )
    assert resp.status_code == 200
    assert xml(resp).get("status") == "error"
    assert xml(get_token(ref, {"photo_id": PHOTO_ID, "return_url": "a\x00b"})).get("code") == "invalid_input"
