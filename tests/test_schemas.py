"""The shipped schemas: documented examples pass, broken samples fail naming the field."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.parse.schemas import (
    Violation,
    schema_dir,
    schema_sha256,
    validate_callback_params,
    validate_json_response,
    validate_response_body,
    validate_xml_response,
)
from conformance.spec import DOCUMENTED_ERROR_CODES

REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "spec_examples"
SCHEMA_FILES = {
    "get-replace-token.xsd",
    "get-replace-token.response.schema.json",
    "redeem-callback.schema.json",
    "results.schema.json",  # the run-results format (conformance/report); pinned like the others
    "certificate.schema.json",  # certificate.json inside certificate.zip (conformance/report)
}

OK_XML = (FIXTURES / "get-replace-token.ok.xml").read_bytes()
OK_JSON: dict[str, Any] = json.loads((FIXTURES / "get-replace-token.ok.json").read_text(encoding="utf-8"))
ERROR_JSON: dict[str, Any] = json.loads((FIXTURES / "permission-denied.json").read_text(encoding="utf-8"))

TOKEN_CHILDREN = {
    "replace_token": "022fe6e3fb42758d6147c539727c5358af3524b1",
    "photo_id": "123456",
    "max_uploads": "1",
    "valid_minutes": "180",
    "valid_until": "1266711372",
    "return_url": "http://www.example.com/upload/callback?theme=green",
}


def errors(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]


def xml_ok(children: dict[str, str] | None = None, attrs: str = "", extra: str = "") -> bytes:
    kids = TOKEN_CHILDREN if children is None else children
    body = "".join(f"<{k}>{v}</{k}>" for k, v in kids.items())
    head = f'<response status="ok" permission_level="write" message="m" cached="0"{attrs}>'
    return f"{head}{body}{extra}</response>".encode()


def callback_params(name: str) -> dict[str, str]:
    url = (FIXTURES / name).read_text(encoding="utf-8").strip()
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def the_one_error(violations: list[Violation]) -> Violation:
    found = errors(violations)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- the files


def test_schema_dir_holds_the_three_schemas() -> None:
    assert schema_dir() == REPO / "schemas"
    assert {p.name for p in schema_dir().iterdir()} >= SCHEMA_FILES


def test_schema_dir_prefers_the_packaged_copy(tmp_path: pathlib.Path) -> None:
    """An installed wheel has the schemas inside the package (pyproject's force-include)."""
    installed = tmp_path / "site" / "conformance"
    shutil.copytree(REPO / "conformance", installed, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "schemas", installed / "schemas")
    found = subprocess.run(
        [sys.executable, "-c", "from conformance.parse.schemas import schema_dir; print(schema_dir())"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed.parent)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == str(installed / "schemas")
    assert schema_dir() == REPO / "schemas"  # in the source tree: the repository's own folder


def test_schema_sha256_pins_each_file() -> None:
    digests = schema_sha256()
    assert set(digests) == SCHEMA_FILES
    for name, digest in digests.items():
        assert digest == hashlib.sha256((REPO / "schemas" / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["get-replace-token.response.schema.json", "redeem-callback.schema.json"])
def test_json_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_xsd_is_a_valid_xsd_1_1_schema() -> None:
    schema = xmlschema.XMLSchema11(str(REPO / "schemas" / "get-replace-token.xsd"))
    assert "response" in schema.elements


# Ways a file could reach the specification folder beside the project: absolute, relative, or
# built from parts. The project must carry what it needs as fixtures (tests/fixtures/spec_examples).
SHARED_SPEC_REFERENCES = re.compile(r"(\.\./)+shared\b|/work/shared|[\"']shared[\"']|shared/spec")


def _project_files() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).resolve()
    found = [
        *sorted((REPO / "conformance").rglob("*.py")),
        *sorted((REPO / "conformance").rglob("*.toml")),
        *sorted((REPO / "tests").rglob("*.py")),
        *sorted((REPO / "schemas").iterdir()),
        *(REPO / name for name in ("pyproject.toml", "tox.ini", ".ci/run", "action.yml")),
    ]
    return [p for p in found if p.is_file() and p.resolve() != here]


@pytest.mark.parametrize(
    "line",
    [
        'open("../shared/spec/index.md")',
        "Path(__file__).parents[2] / 'shared' / 'spec'",
        "ROOT.parent / 'shared'",
        "/work/shared/spec/error-codes.md",
    ],
)
def test_the_shared_spec_guard_sees_every_way_to_name_the_folder(line: str) -> None:
    assert SHARED_SPEC_REFERENCES.search(line)


def test_project_files_never_read_the_shared_spec() -> None:
    files = _project_files()
    assert len(files) > 100  # the walk sees the project
    readers = [str(p) for p in files if SHARED_SPEC_REFERENCES.search(p.read_text(encoding="utf-8"))]
    assert not readers, f"files that name the shared specification folder: {readers}"


def test_documented_error_codes_match_the_documented_list() -> None:
    """The constant against the document's own table (copied as a fixture), not against itself."""
    table = (FIXTURES / "error-codes.txt").read_text(encoding="utf-8").split()
    assert len(table) == len(set(table)) > 0
    assert set(table) == DOCUMENTED_ERROR_CODES


# --------------------------------------------------------------------------- documented examples


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_documented_xml_examples_validate(name: str) -> None:
    assert validate_xml_response((FIXTURES / name).read_bytes()) == []


@pytest.mark.parametrize("name", ["get-replace-token.ok.json", "permission-denied.json"])
@pytest.mark.parametrize(
    "wrap", ["var visual = {};", "var custom = {};", "cb({});", "{}", "\n var visual =\n{}\n"]
)
def test_documented_json_examples_validate_in_every_wrapper(name: str, wrap: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert validate_response_body(wrap.replace("{}", text).encode("utf-8")) == []


@pytest.mark.parametrize("name", ["callback-success.url", "callback-error.url"])
def test_documented_callbacks_validate(name: str) -> None:
    assert validate_callback_params(callback_params(name)) == []


def test_documents_own_failure_example_lacks_permission_level() -> None:
    """Position: every response states the caller's level, even the generic failure sample."""
    body = b'<response status="error" code="invalid_signature" message="The API signature is invalid."/>'
    violation = the_one_error(validate_xml_response(body))
    assert violation.path == "/response/@permission_level"
    assert "permission_level" in violation.message


# --------------------------------------------------------------------------- XML: broken samples


def test_xml_missing_replace_token() -> None:
    kids = {k: v for k, v in TOKEN_CHILDREN.items() if k != "replace_token"}
    violation = the_one_error(validate_xml_response(xml_ok(kids)))
    assert violation.path == "/response/replace_token"
    assert "missing required element <replace_token>" in violation.message


@pytest.mark.parametrize("field", ["photo_id", "max_uploads", "valid_minutes", "valid_until"])
@pytest.mark.parametrize("value", ["soon", "", "12.5", "-1", " 180", "1e3"])
def test_xml_non_numeric_fields(field: str, value: str) -> None:
    violation = the_one_error(validate_xml_response(xml_ok({**TOKEN_CHILDREN, field: value})))
    assert violation.path == f"/response/{field}"
    assert f"<{field}>" in violation.message
    assert repr(value) in violation.message


def test_xml_empty_replace_token() -> None:
    violation = the_one_error(validate_xml_response(xml_ok({**TOKEN_CHILDREN, "replace_token": ""})))
    assert violation.path == "/response/replace_token"


@pytest.mark.parametrize(
    ("attrs", "name", "value"),
    [
        ('status="OK" permission_level="write"', "status", "OK"),
        ('status="ok" permission_level="root" cached="0"', "permission_level", "root"),
        ('status="ok" permission_level="write" cached="yes"', "cached", "yes"),
        ('status="ok" permission_level="write" cached="0" cache_time="today"', "cache_time", "today"),
    ],
)
def test_xml_bad_attribute_values(attrs: str, name: str, value: str) -> None:
    body = f"<response {attrs}>{''.join(f'<{k}>{v}</{k}>' for k, v in TOKEN_CHILDREN.items())}</response>"
    violation = the_one_error(validate_xml_response(body.encode()))
    assert violation.path == f"/response/@{name}"
    assert name in violation.message and value in violation.message


@pytest.mark.parametrize("name", ["status", "permission_level", "cached"])
def test_xml_missing_required_attribute(name: str) -> None:
    """cached is required on a success: index.md lists it among the envelope attributes."""
    attrs = {"status": "ok", "permission_level": "write", "cached": "0"}
    del attrs[name]
    rendered = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    body = f"<response {rendered}>{''.join(f'<{k}>{v}</{k}>' for k, v in TOKEN_CHILDREN.items())}</response>"
    violation = the_one_error(validate_xml_response(body.encode()))
    assert violation.path == f"/response/@{name}"
    assert name in violation.message


def test_xml_unescaped_ampersand_is_one_parse_violation_naming_the_element() -> None:
    body = xml_ok({**TOKEN_CHILDREN, "return_url": "http://e.com/cb?a=1&b=2"})
    violation = the_one_error(validate_xml_response(body))
    assert violation.path == "/"
    assert "not well-formed XML" in violation.message
    assert "return_url" in violation.message


def test_xml_duplicate_documented_child_is_rejected() -> None:
    violation = the_one_error(validate_xml_response(xml_ok(extra="<photo_id>999</photo_id>")))
    assert violation.path == "/response/photo_id"
    assert "photo_id" in violation.message


def test_xml_wrong_root_element() -> None:
    violation = the_one_error(validate_xml_response(b'<result status="ok"/>'))
    assert "result" in violation.message


@pytest.mark.parametrize("missing", ["code", "message", "permission_level"])
def test_xml_error_response_requires_code_message_level(missing: str) -> None:
    attrs = {
        "status": "error",
        "code": "no_such_photo",
        "message": "No such photo",
        "permission_level": "write",
    }
    del attrs[missing]
    body = "<response " + " ".join(f'{k}="{v}"' for k, v in attrs.items()) + "/>"
    violation = the_one_error(validate_xml_response(body.encode()))
    assert violation.path == f"/response/@{missing}"


def test_xml_refuses_xxe_as_a_violation() -> None:
    body = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><response status="ok">&e;</response>'
    violation = the_one_error(validate_xml_response(body))
    assert violation.path == "/"
    assert "DTD/entity declaration" in violation.message


def test_xml_validator_refuses_json() -> None:
    violation = the_one_error(validate_xml_response(json.dumps(OK_JSON).encode()))
    assert "expected a XML response" in violation.message


# --------------------------------------------------------------------------- XML: tolerated variations


def test_xml_return_url_may_be_empty_or_absent() -> None:
    assert validate_xml_response(xml_ok({**TOKEN_CHILDREN, "return_url": ""})) == []
    assert validate_xml_response(xml_ok({k: v for k, v in TOKEN_CHILDREN.items() if k != "return_url"})) == []


def test_xml_extra_attributes_and_free_text_message_validate() -> None:
    attrs = ' cache_time="1266304557" p="1" x-vendor="yes" message2="Ünïcødé &amp; &lt;stuff&gt;"'
    assert validate_xml_response(xml_ok(attrs=attrs)) == []


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(list(TOKEN_CHILDREN)),
    extras=st.lists(
        st.tuples(st.sampled_from(["title", "x", "site", "tree_id", "note"]), st.integers(0, 6)), max_size=4
    ),
)
def test_xml_children_in_any_order_with_extra_elements_validate(
    order: list[str], extras: list[tuple[str, int]]
) -> None:
    parts = [f"<{k}>{TOKEN_CHILDREN[k]}</{k}>" for k in order]
    for tag, position in extras:
        parts.insert(min(position, len(parts)), f"<{tag}>extra <b>nested</b></{tag}>")
    body = f'<response status="ok" permission_level="write" cached="0">{"".join(parts)}</response>'
    assert validate_xml_response(body.encode()) == []


# --------------------------------------------------------------------------- JSON: broken samples


def mutated(**changes: Any) -> dict[str, Any]:
    """The documented JSON example with top-level (or ``replacetoken__x``) members changed; None deletes."""
    obj = copy.deepcopy(OK_JSON)
    for key, value in changes.items():
        target, name = (obj["replacetoken"], key.split("__", 1)[1]) if "__" in key else (obj, key)
        if value is None:
            del target[name]
        else:
            target[name] = value
    return obj


def test_json_missing_replace_token() -> None:
    violation = the_one_error(validate_json_response(mutated(replacetoken__replace_token=None)))
    assert violation.path == "$.replacetoken.replace_token"
    assert "missing required member 'replace_token'" in violation.message


def test_json_non_numeric_valid_until() -> None:
    violation = the_one_error(validate_json_response(mutated(replacetoken__valid_until="tomorrow")))
    assert violation.path == "$.replacetoken.valid_until"
    assert violation.message.startswith("valid_until:")
    assert "'tomorrow'" in violation.message and "decimal digits" in violation.message


def test_json_status_must_be_lowercase() -> None:
    violation = the_one_error(validate_json_response(mutated(status="OK")))
    assert violation.path == "$.status"
    assert "'OK'" in violation.message


def test_json_wrong_endpoint() -> None:
    violation = the_one_error(validate_json_response(mutated(endpoint="/api/photo/get-upload-token")))
    assert violation.path == "$.endpoint"
    assert "/api/photo/get-replace-token" in violation.message


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("replacetoken__valid_minutes", 180, "$.replacetoken.valid_minutes"),
        ("replacetoken__max_uploads", 1, "$.replacetoken.max_uploads"),
        ("replacetoken__photo_id", 123456, "$.replacetoken.photo_id"),
        ("replacetoken__valid_until", 1266713254, "$.replacetoken.valid_until"),
        ("cached", 0, "$.cached"),
        ("p", 1, "$.p"),
        ("size", 1, "$.size"),
    ],
)
def test_json_integers_instead_of_strings(key: str, value: int, path: str) -> None:
    violations = errors(validate_json_response(mutated(**{key: value})))
    assert violations, "an integer where a string is documented must fail"
    assert {v.path for v in violations} == {path}
    field = path.rsplit(".", 1)[1]
    assert any(v.message.startswith(f"{field}:") and "string" in v.message for v in violations)


@pytest.mark.parametrize(
    "member", ["replacetoken", "site", "endpoint", "permission_level", "status", "cached"]
)
def test_json_success_requires_member(member: str) -> None:
    violation = the_one_error(validate_json_response(mutated(**{member: None})))
    assert violation.path == f"$.{member}"
    assert member in violation.message


def test_json_site_members_are_not_required() -> None:
    """Position (RESPONSE-JSON-ENVELOPE): the example elides the site object; only an object is required."""
    assert validate_json_response(mutated(site={"domain": "videos.example.com"})) == []
    assert validate_json_response(mutated(site={})) == []
    violation = the_one_error(validate_json_response(mutated(site="videos.example.com")))
    assert violation.path == "$.site"


def test_errors_need_no_cached() -> None:
    """The documents' failure examples carry no cached attribute: optional on errors."""
    assert "cached" not in ERROR_JSON
    assert errors(validate_json_response(ERROR_JSON)) == []
    body = b'<response status="error" code="no_such_photo" message="m" permission_level="write"/>'
    assert errors(validate_xml_response(body)) == []


@pytest.mark.parametrize("missing", ["code", "message", "permission_level", "endpoint"])
def test_json_error_requires_member(missing: str) -> None:
    obj = {k: v for k, v in ERROR_JSON.items() if k != missing}
    violation = the_one_error(validate_json_response(obj))
    assert violation.path == f"$.{missing}"


def test_json_not_an_object() -> None:
    violation = the_one_error(validate_json_response(["status", "ok"]))
    assert violation.path == "$"


def test_json_extra_members_validate() -> None:
    obj = mutated(total_count="1", cache_time="1266304557", extra={"nested": [1, 2]})
    obj["replacetoken"]["vendor_field"] = {"anything": True}
    obj["site"]["site_url"] = "https://videos.example.com"
    assert validate_json_response(obj) == []


def test_json_return_url_may_be_empty_or_absent() -> None:
    assert validate_json_response(mutated(replacetoken__return_url="")) == []
    assert validate_json_response(mutated(replacetoken__return_url=None)) == []


def test_response_body_reports_parse_errors_at_root() -> None:
    assert validate_response_body(b"<html><body>Oops</body></html>") == [
        Violation("/", "body is an HTML page, not an API response: starts b'<html><body>Oops</body></html>'")
    ]
    [violation] = validate_response_body(b"")
    assert violation.path == "/" and violation.severity == "error"


def test_response_body_json_wrapper_with_broken_field() -> None:
    body = f"cb({json.dumps(mutated(replacetoken__photo_id='12a'))});".encode()
    violation = the_one_error(validate_response_body(body))
    assert violation.path == "$.replacetoken.photo_id"


# --------------------------------------------------------------------------- error codes


@pytest.mark.parametrize("code", sorted(DOCUMENTED_ERROR_CODES))
def test_documented_codes_give_no_warning(code: str) -> None:
    assert validate_json_response({**ERROR_JSON, "code": code}) == []
    body = f'<response status="error" code="{code}" message="m" permission_level="write"/>'.encode()
    assert validate_xml_response(body) == []


def test_unknown_error_code_is_only_a_warning_in_json() -> None:
    [violation] = validate_json_response({**ERROR_JSON, "code": "rate_limited"})
    assert violation.severity == "warning"
    assert violation.path == "$.code"
    assert "'rate_limited'" in violation.message


def test_unknown_error_code_is_only_a_warning_in_xml() -> None:
    body = b'<response status="error" code="Rate-Limited!" message="slow down" permission_level="read"/>'
    [violation] = validate_xml_response(body)
    assert violation.severity == "warning"
    assert violation.path == "/response/@code"
    assert "'Rate-Limited!'" in violation.message


def test_violation_renders_with_warning_prefix() -> None:
    assert str(Violation("$.code", "odd")) == "$.code: odd"
    assert str(Violation("$.code", "odd", "warning")) == "$.code: warning: odd"


# --------------------------------------------------------------------------- callbacks


def test_callback_success_missing_photo_id() -> None:
    params = callback_params("callback-success.url")
    del params["photo_id"]
    violation = the_one_error(validate_callback_params(params))
    assert violation.path == "$.photo_id"
    assert "photo_id" in violation.message


@pytest.mark.parametrize("field", ["photo_id", "tree_id"])
def test_callback_ids_are_digit_strings(field: str) -> None:
    params = {**callback_params("callback-success.url"), field: "abc"}
    violation = the_one_error(validate_callback_params(params))
    assert violation.path == f"$.{field}"


@pytest.mark.parametrize("missing", ["domain", "replace_token"])
@pytest.mark.parametrize("fixture", ["callback-success.url", "callback-error.url"])
def test_callback_always_carries_domain_and_token(fixture: str, missing: str) -> None:
    params = callback_params(fixture)
    del params[missing]
    violation = the_one_error(validate_callback_params(params))
    assert violation.path == f"$.{missing}"


def test_callback_error_does_not_need_success_fields() -> None:
    assert validate_callback_params({"domain": "d", "replace_token": "t", "error_message": ""}) == []


def test_callback_values_must_be_strings() -> None:
    params: dict[str, Any] = {**callback_params("callback-success.url"), "photo_id": 12345}
    violation = the_one_error(validate_callback_params(params))
    assert violation.path == "$.photo_id"
    assert "string" in violation.message
