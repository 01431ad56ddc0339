"""Locating the shipped schemas and validating responses and callbacks against them.

The schema files under ``schemas/`` are the single source of truth (vendors may use them
without this package); this module only loads them, runs them, and turns validator
errors into readable :class:`Violation`s that name the offending field. The one check
that is deliberately *not* in the schemas is membership of an error code in the
documented list: an undocumented code is reported as a warning, not a failure.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.etree.ElementTree import Element

import jsonschema
import xmlschema

from conformance.parse.responses import ParsedResponse, ResponseParseError, parse_response
from conformance.spec import DOCUMENTED_ERROR_CODES

__all__ = [
    "CALLBACK_SCHEMA",
    "JSON_SCHEMA",
    "XML_SCHEMA",
    "Violation",
    "json_validator",
    "schema_dir",
    "schema_sha256",
    "validate_callback_params",
    "validate_json_response",
    "validate_response_body",
    "validate_xml_response",
]

XML_SCHEMA = "get-replace-token.xsd"
JSON_SCHEMA = "get-replace-token.response.schema.json"
CALLBACK_SCHEMA = "redeem-callback.schema.json"


@dataclass(frozen=True)
class Violation:
    """One contract problem: where (``/response/valid_until``, ``$.replacetoken.photo_id``) and what."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}: {prefix}{self.message}"


# --------------------------------------------------------------------------- locating


def schema_dir() -> pathlib.Path:
    """The schema folder: ``conformance/schemas`` in an installed wheel, else ``<repo>/schemas``."""
    package = pathlib.Path(__file__).resolve().parents[1]
    packaged = package / "schemas"
    return packaged if packaged.is_dir() else package.parent / "schemas"


def schema_sha256() -> dict[str, str]:
    """File name -> SHA-256 of every schema file, so a report pins the exact contract used."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(schema_dir().iterdir())
        if path.is_file() and path.suffix in {".xsd", ".json"}
    }


@functools.cache
def _xml_schema() -> xmlschema.XMLSchema11:
    return xmlschema.XMLSchema11(str(schema_dir() / XML_SCHEMA))


@functools.cache
def json_validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator of one shipped JSON Schema (responses, callbacks, results.json, certificates)."""
    schema = json.loads((schema_dir() / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --------------------------------------------------------------------------- XML

_ATTR_REASON = re.compile(r"^attribute (?P<name>[\w:.-]+)=")
_MISSING_ATTR = re.compile(r"missing required attribute '(?P<name>[^']+)'")
_INCOMPLETE = re.compile(r"is not complete\. Tag '(?P<name>[^']+)' expected")
_UNEXPECTED = re.compile(r"Unexpected child with tag '(?P<name>[^']+)'")


def _xml_violation(error: xmlschema.XMLSchemaValidationError) -> Violation:
    reason = error.reason or error.message
    path = error.path or "/"
    if m := _ATTR_REASON.match(reason) or _MISSING_ATTR.search(reason):
        return Violation(f"{path}/@{m['name']}", reason)
    if m := _INCOMPLETE.search(reason):
        return Violation(f"{path}/{m['name']}", f"missing required element <{m['name']}>")
    if m := _UNEXPECTED.search(reason):
        return Violation(f"{path}/{m['name']}", f"element <{m['name']}> is not allowed here: {reason}")
    elem = error.elem
    if isinstance(elem, Element) and path != "/" and path.count("/") > 1:
        text = "".join(elem.itertext())
        hint = " (expected a string of decimal digits)" if "[0-9]+" in reason else ""
        return Violation(path, f"<{elem.tag}> {reason}{hint}; got {text!r}")
    return Violation(path, reason)


def _validate_xml_root(parsed: ParsedResponse) -> list[Violation]:
    violations = [_xml_violation(e) for e in _xml_schema().iter_errors(parsed.document)]
    code = parsed.attributes.get("code")
    if parsed.status == "error" and code:
        violations.extend(_code_warning(f"/{parsed.document.tag}/@code", code))
    return violations


def validate_xml_response(body: bytes) -> list[Violation]:
    """Validate an XML response body (parsed safely, then checked against the XSD 1.1 schema)."""
    try:
        parsed = parse_response(body, "xml")
    except ResponseParseError as exc:
        return [Violation("/", str(exc))]
    return _validate_xml_root(parsed)


# --------------------------------------------------------------------------- JSON

_REQUIRED = re.compile(r"^'(?P<name>[^']+)' is a required property$")
_HINTS = {
    "type": " (every value in these responses is a JSON string)",
    "pattern": " (expected a string of decimal digits)",
}


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _json_violations(validator: jsonschema.Draft202012Validator, instance: object) -> list[Violation]:
    violations = []
    for error in validator.iter_errors(instance):
        parts = list(error.absolute_path)
        if error.validator == "required" and (m := _REQUIRED.match(error.message)):
            name = m["name"]
            where = _json_path(parts) if parts else "the top level"
            violations.append(
                Violation(_json_path([*parts, name]), f"missing required member '{name}' in {where}")
            )
            continue
        field = str(parts[-1]) if parts else "response"
        hint = ""
        if (error.validator, error.validator_value) in (("type", "string"), ("pattern", "^[0-9]+$")):
            hint = _HINTS[str(error.validator)]
        violations.append(Violation(_json_path(parts), f"{field}: {error.message}{hint}"))
    # The same member can fail through two subschemas (e.g. additionalProperties and then/properties).
    return sorted(set(violations), key=lambda v: (v.path, v.message))


def validate_json_response(obj: object) -> list[Violation]:
    """Validate an already unwrapped JSON response object against the JSON Schema."""
    violations = _json_violations(json_validator(JSON_SCHEMA), obj)
    if isinstance(obj, dict) and obj.get("status") == "error" and isinstance(obj.get("code"), str):
        violations.extend(_code_warning("$.code", obj["code"]))
    return violations


def validate_callback_params(params: Mapping[str, str]) -> list[Violation]:
    """Validate the parameters added to ``return_url`` by a redeem (success or failure)."""
    try:
        instance: object = dict(params)
    except (TypeError, ValueError):
        return [Violation("$", f"callback parameters must be a mapping, got {type(params).__name__}")]
    return _json_violations(json_validator(CALLBACK_SCHEMA), instance)


# --------------------------------------------------------------------------- shared


def _code_warning(path: str, code: str) -> list[Violation]:
    if code in DOCUMENTED_ERROR_CODES:
        return []
    return [Violation(path, f"error code {code!r} is not in the documented list (error-codes.md)", "warning")]


def validate_response_body(body: bytes) -> list[Violation]:
    """Sniff, parse and validate a whole body: XML, or JSON in any of its wrappers.

    A body that cannot be parsed at all becomes a single violation at ``/``.
    """
    try:
        parsed = parse_response(body)
    except ResponseParseError as exc:
        return [Violation("/", str(exc))]
    if parsed.format == "xml":
        return _validate_xml_root(parsed)
    return validate_json_response(parsed.document)
