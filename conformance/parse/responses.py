"""Safe parsing of API response bodies into :class:`ParsedResponse`.

A server under test is untrusted input: its body may be XML with a DTD (XXE, entity
expansion), an HTML error page, binary noise or a JSON object wrapped in JavaScript.
Everything here either returns a :class:`ParsedResponse` or raises
:class:`ResponseParseError` with a message saying precisely what is wrong, so the suite
can report a non-conformance instead of crashing. No other exception escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from conformance.spec import JSON_TOKEN_MEMBER

__all__ = [
    "ParsedResponse",
    "ResponseParseError",
    "parse_response",
    "sniff_format",
    "unwrap_json",
]

Format = Literal["xml", "json"]
Wrapper = Literal["xml", "var", "callback", "raw"]

# A JavaScript identifier path such as ``visual`` or ``app.cb`` (see docs/ARCHITECTURE.md).
_IDENT_PATH = r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*"
_VAR_HEAD = re.compile(r"var\s+(" + _IDENT_PATH + r")\s*=\s*")
_CALLBACK_HEAD = re.compile(r"(" + _IDENT_PATH + r")\s*\(\s*")
# What a script may start with before its wrapper: JavaScript whitespace and comments (Express's
# res.jsonp emits '/**/'). A line comment ends at any JavaScript line terminator, as in a browser,
# so no text a browser would execute is ever skipped as a comment.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_LEADING = re.compile(r"(?:[" + _JS_SPACE + r"]|/\*.*?\*/|//[^\n\r\u2028\u2029]*)*", re.S)
# Express's guard before the call: "typeof NAME === 'function' && NAME(...)".
_TYPEOF_GUARD = re.compile(r"typeof\s+(" + _IDENT_PATH + r")\s*===?\s*(['\"])function\2\s*&&\s*")
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_HTML_START = re.compile(
    rb"^(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)
_SNIPPET = 60


# Bytes no text response contains: NUL and the C0 controls other than tab, LF, FF, CR.
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def _looks_binary(head: bytes) -> bool:
    """True for noise: a NUL, or more than 10% control bytes, in the first 512 bytes."""
    sample = head[:512]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return b"\0" in sample or controls * 10 > len(sample)


class ResponseParseError(ValueError):
    """The body is not a parseable API response; the message says why."""


@dataclass(frozen=True)
class ParsedResponse:
    """A response body reduced to what the checks need, whichever format it came in.

    ``attributes`` are the XML root attributes or the JSON top-level scalar members;
    ``fields`` are the XML child element texts or the members of the JSON
    ``replacetoken`` object. Non-string JSON scalars are rendered with ``json.dumps`` (so
    an integer ``180`` shows as ``180`` and a check can still tell it was not ``"180"``);
    ``raw_fields`` and ``raw_attributes`` keep the original JSON values.
    """

    format: Format
    wrapper: Wrapper
    wrapper_name: str | None
    status: str | None
    attributes: dict[str, str]
    fields: dict[str, str]
    document: Any
    raw_fields: dict[str, Any] = field(default_factory=dict)
    raw_attributes: dict[str, Any] = field(default_factory=dict)


def _snippet(data: bytes | str) -> str:
    """A short, repr-quoted excerpt for error messages (never the whole body)."""
    text = data[:_SNIPPET]
    suffix = "..." if len(data) > _SNIPPET else ""
    return repr(text) + suffix


def _strip_bom(body: bytes) -> bytes:
    return body[3:] if body.startswith(b"\xef\xbb\xbf") else body


def sniff_format(body: bytes) -> Format | None:
    """Guess XML or JSON from the first significant characters; ``None`` if neither.

    Any JSON wrapper (``var NAME =``, ``NAME(``, raw ``{``), after leading JavaScript comments,
    counts as JSON. An HTML page starts with ``<`` and so sniffs as XML; :func:`parse_response`
    then names it.
    """
    if not isinstance(body, bytes | bytearray):
        return None
    head = _strip_bom(bytes(body)).lstrip()
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"{", b"[")):
        return "json"
    text = head[:400].decode("utf-8", errors="replace")
    start = _JS_LEADING.match(text).end()  # type: ignore[union-attr]  # matches the empty string
    if _VAR_HEAD.match(text, start) or _TYPEOF_GUARD.match(text, start) or _CALLBACK_HEAD.match(text, start):
        return "json"
    return None


def _decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResponseParseError(
            f"body is not valid UTF-8: byte {body[exc.start]:#04x} at offset {exc.start}"
        ) from None


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def unwrap_json(text: str) -> tuple[Wrapper, str | None, dict[str, Any]]:
    """Remove the JavaScript wrapper and decode the JSON object inside it.

    Accepts ``var NAME = {...};`` (``;`` optional), ``NAME({...});`` (``;`` optional) and
    raw ``{...}``, with any whitespace around the parts. The script forms may start with
    JavaScript comments, and the callback may be guarded the way Express's ``res.jsonp``
    does it: ``/**/ typeof NAME === 'function' && NAME({...});``. Raw JSON is JSON, so no
    comment may precede it. The object is read with ``JSONDecoder.raw_decode`` so ``;``,
    ``(`` or ``}`` inside string values cannot confuse the wrapper detection. Returns
    ``(wrapper, name, object)``.
    """
    if not isinstance(text, str):
        raise ResponseParseError(f"JSON wrapper: expected text, got {type(text).__name__}")
    text = text.removeprefix("\ufeff").strip()
    if not text:
        raise ResponseParseError("body is empty")

    wrapper: Wrapper
    name: str | None
    lead = _JS_LEADING.match(text).end()  # type: ignore[union-attr]  # matches the empty string
    guard = _TYPEOF_GUARD.match(text, lead)
    if text.startswith(("{", "[")):
        wrapper, name, start = "raw", None, 0
    elif text.startswith(("{", "["), lead):
        raise ResponseParseError(
            f"JSON wrapper: bare JSON must not start with a JavaScript comment, got {_snippet(text)}"
        )
    elif m := _VAR_HEAD.match(text, lead):
        wrapper, name, start = "var", m.group(1), m.end()
    elif m := _CALLBACK_HEAD.match(text, guard.end() if guard else lead):
        wrapper, name, start = "callback", m.group(1), m.end()
        if guard and guard.group(1) != name:
            raise ResponseParseError(
                f"JSON wrapper: 'typeof {guard.group(1)} === ...' guards a call of another name, {name}"
            )
    else:
        raise ResponseParseError(
            "JSON wrapper: expected 'var NAME = {...};', 'NAME({...});' or a bare JSON object, "
            f"got {_snippet(text)}"
        )

    try:
        obj, end = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise ResponseParseError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ResponseParseError("body is not valid JSON: nesting too deep") from None

    rest = text[end:].strip()
    if wrapper == "callback":
        if not rest.startswith(")"):
            raise ResponseParseError(
                f"JSON wrapper: expected ')' to close the callback {name}(...), got {_snippet(rest)}"
            )
        rest = rest[1:].strip()
    if wrapper != "raw" and rest.startswith(";"):
        rest = rest[1:].strip()
    if rest:
        expected = {
            "raw": "end of body after the JSON object",
            "var": f"only ';' after 'var {name} = {{...}}'",
            "callback": f"only ';' after '{name}({{...}})'",
        }[wrapper]
        raise ResponseParseError(f"JSON wrapper: expected {expected}, got trailing {_snippet(rest)}")
    if not isinstance(obj, dict):
        raise ResponseParseError(f"JSON response must be an object, got {type(obj).__name__}")
    return wrapper, name, obj


def _reject_constant(name: str) -> Any:
    raise ResponseParseError(f"body is not valid JSON: {name} is not a JSON value")


def _parse_json(body: bytes) -> ParsedResponse:
    wrapper, name, obj = unwrap_json(_decode_utf8(_strip_bom(body)))
    raw_attributes = {k: v for k, v in obj.items() if not isinstance(v, dict | list)}
    token = obj.get(JSON_TOKEN_MEMBER)
    raw_fields = (
        {k: v for k, v in token.items() if not isinstance(v, dict | list)} if isinstance(token, dict) else {}
    )
    status = obj.get("status")
    return ParsedResponse(
        format="json",
        wrapper=wrapper,
        wrapper_name=name,
        status=None if status is None else _to_str(status),
        attributes={k: _to_str(v) for k, v in raw_attributes.items()},
        fields={k: _to_str(v) for k, v in raw_fields.items()},
        document=obj,
        raw_fields=raw_fields,
        raw_attributes=raw_attributes,
    )


def _near(body: bytes, exc: ParseError) -> str:
    """The text around an XML syntax error, so the report shows which element is broken."""
    try:
        line, column = exc.position
        text = body.decode("utf-8", errors="replace").splitlines()[line - 1]
    except (AttributeError, IndexError, TypeError, ValueError):
        return ""
    start = max(column - 30, 0)
    return f" near {text[start : column + 30]!r}"


def _parse_xml(body: bytes) -> ParsedResponse:
    body = bytes(body)
    stripped = _strip_bom(body).lstrip()
    if _HTML_START.match(stripped):
        raise ResponseParseError(f"body is an HTML page, not an API response: starts {_snippet(stripped)}")
    declared = _XML_DECL_ENCODING.match(stripped)
    if declared is None or declared.group(1).lower().replace(b"_", b"-") in {b"utf-8", b"utf8"}:
        # Without a declaration XML is UTF-8; say so precisely instead of expat's "invalid token".
        _decode_utf8(stripped)
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as exc:
        raise ResponseParseError(
            "XML contains a DTD/entity declaration (refused: XXE/entity-expansion risk): "
            + type(exc).__name__
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise ResponseParseError(
            "XML contains an external reference (refused: XXE/entity-expansion risk)"
        ) from None
    except ParseError as exc:
        raise ResponseParseError(f"body is not well-formed XML: {exc}{_near(body, exc)}") from None
    except (ValueError, LookupError) as exc:  # e.g. an encoding expat does not know
        raise ResponseParseError(f"body is not well-formed XML: {exc}") from None
    if not isinstance(root, Element):
        raise ResponseParseError("body is not well-formed XML: no root element")
    if root.tag.lower() == "html":
        raise ResponseParseError("body is an HTML page, not an API response: root element <html>")

    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in fields:
            fields[child.tag] = "".join(child.itertext())
    attributes = dict(root.attrib)
    return ParsedResponse(
        format="xml",
        wrapper="xml",
        wrapper_name=None,
        status=attributes.get("status"),
        attributes=attributes,
        fields=fields,
        document=root,
    )


def parse_response(body: bytes, expected: Format | None = None) -> ParsedResponse:
    """Parse a response body (XML, or JSON in any wrapper) safely.

    ``expected`` is the format the request asked for; a body in the other format is an
    error. Raises only :class:`ResponseParseError`.
    """
    try:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes | bytearray):
            raise ResponseParseError(f"body must be bytes, got {type(body).__name__}")
        body = bytes(body)
        if not body.strip():
            raise ResponseParseError("body is empty")
        head = _strip_bom(body).lstrip()
        if _HTML_START.match(head):  # an error page from a proxy or framework, whatever was asked for
            raise ResponseParseError(f"body is an HTML page, not an API response: starts {_snippet(head)}")
        if _looks_binary(head):
            raise ResponseParseError(f"body is binary data, neither XML nor JSON: starts {_snippet(head)}")
        sniffed = sniff_format(body)
        if expected is not None and sniffed is not None and sniffed != expected:
            raise ResponseParseError(
                f"expected a {expected.upper()} response, got {sniffed.upper()}: starts {_snippet(body)}"
            )
        fmt = expected or sniffed
        if fmt is None:
            raise ResponseParseError(f"body is neither XML nor JSON: starts {_snippet(body)}")
        return _parse_xml(body) if fmt == "xml" else _parse_json(body)
    except ResponseParseError:
        raise
    except Exception as exc:  # last resort: the contract is "only ResponseParseError escapes"
        raise ResponseParseError(f"body could not be parsed: {type(exc).__name__}: {exc}") from None
