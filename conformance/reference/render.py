"""Response rendering: the XML ``<response>`` document and the JSON wrappers.

Positions (docs/ARCHITECTURE.md): XML by default; ``format=json`` gives ``var visual = {...};``,
``varname`` renames the variable, ``raw`` gives bare JSON, ``callback`` gives ``NAME({...});``;
precedence callback > raw > varname. A name that is not a JavaScript identifier path is refused
with ``invalid_input`` in the default wrapper and never reflected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from conformance.spec import DEFAULT_VARNAME, JS_NAME_PATTERN, JS_NAME_RE, JSON_TOKEN_MEMBER

from .behaviour import Behaviour

JS_NAME_START_RE = re.compile(JS_NAME_PATTERN)
"""The rule unanchored: only the ``jsonp_callback_prefix_checked`` fault matches with it."""
# Characters XML 1.0 cannot carry at all, even escaped.
XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class RenderOptions:
    """How a response is to be rendered."""

    fmt: str = "xml"  # "xml" | "json"
    wrapper: str = "var"  # "var" | "raw" | "callback"
    name: str = DEFAULT_VARNAME


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str


class BadRenderName(ValueError):
    """A ``varname``/``callback`` that is not a JavaScript identifier path."""


def resolve_options(params: dict[str, str], behaviour: Behaviour) -> RenderOptions:
    """Pick format and wrapper from the API parameters; raises :class:`BadRenderName`.

    Empty ``varname``/``callback`` values count as absent. Wrapper options only apply to JSON.
    """
    if params.get("format", "").strip().lower() != "json" or behaviour.fault("format_ignored"):
        return RenderOptions(fmt="xml")
    callback = "" if behaviour.fault("callback_ignored") else params.get("callback", "")
    varname = "" if behaviour.fault("varname_ignored") else params.get("varname", "")
    if callback:
        # The fault: an unanchored match, so only the start of the name has to look like an identifier.
        prefix_ok = behaviour.fault("jsonp_callback_prefix_checked") and JS_NAME_START_RE.match(callback)
        if not (JS_NAME_RE.match(callback) or prefix_ok or behaviour.fault("jsonp_callback_unchecked")):
            raise BadRenderName("callback")
        return RenderOptions(fmt="json", wrapper="callback", name=callback)
    if "raw" in params and not (behaviour.fault("raw_needs_true_value") and params["raw"] in ("", "0")):
        return RenderOptions(fmt="json", wrapper="raw")
    if varname:
        if not JS_NAME_RE.match(varname):
            raise BadRenderName("varname")
        return RenderOptions(fmt="json", wrapper="var", name=varname)
    return RenderOptions(fmt="json", wrapper="var", name=behaviour.default_varname)


def default_json_options(behaviour: Behaviour) -> RenderOptions:
    return RenderOptions(fmt="json", wrapper="var", name=behaviour.default_varname)


def js_safe_json(obj: Any, ensure_ascii: bool = False) -> str:
    """JSON with raw UTF-8 that is also safe inside a ``<script>`` block and in JavaScript."""
    text = json.dumps(obj, ensure_ascii=ensure_ascii)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def wrap_json(obj: dict[str, Any], options: RenderOptions, behaviour: Behaviour) -> Rendered:
    text = js_safe_json(obj, behaviour.json_ensure_ascii)
    if options.wrapper == "raw":
        out = text
    elif options.wrapper == "callback":
        guard = f"typeof {options.name} === 'function' && " if behaviour.jsonp_typeof_guard else ""
        end = ";" if behaviour.jsonp_semicolon else ""
        out = f"{behaviour.jsonp_prefix}{guard}{options.name}({text}){end}"
    else:
        out = f"var {options.name} = {text};"
    return Rendered((out + "\n").encode("utf-8"), behaviour.json_content_type)


def _xml_text(value: str) -> str:
    return escape(value, {"\r": "&#13;"})


def _xml_attr(value: str) -> str:
    return quoteattr(value, {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def xml_document(attrs: dict[str, str], children: list[tuple[str, str]] | None, b: Behaviour) -> bytes:
    """The ``<response>`` document; a success has ``children`` (the token fields), an error none."""
    attrs = {**attrs, **b.extra_xml_attributes}
    items = list(reversed(attrs.items())) if b.xml_reverse_attributes else list(attrs.items())
    head = "".join(f" {k}={_xml_attr(v)}" for k, v in items)
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n' if b.xml_declaration else ""
    if children is None:
        return (decl + f"<response{head}/>\n").encode("utf-8")
    children = [*children, *b.extra_xml_elements]
    if b.xml_reverse_children:
        children.reverse()
    text_of = (lambda s: s) if b.fault("xml_text_unescaped") else _xml_text
    inner = "".join(
        f"  <{tag}>{text_of(text)}</{tag}>\n" if text else f"  <{tag}/>\n" for tag, text in children
    )
    return (decl + f"<response{head}>\n{inner}</response>\n").encode("utf-8")


def render_success(
    *,
    token_fields: list[tuple[str, str]],
    level: str,
    message: str,
    site: dict[str, str],
    options: RenderOptions,
    behaviour: Behaviour,
) -> Rendered:
    """A successful get-replace-token response in the requested format."""
    b = behaviour
    cached = "1" if b.fault("cached_one") else "0"
    if b.omit_empty_return_url:
        token_fields = [(k, v) for k, v in token_fields if v or k != "return_url"]
    if options.fmt == "xml":
        attrs = {"status": "ok", "permission_level": level, "message": message, "cached": cached}
        if b.fault("xml_missing_return_url"):
            token_fields = [(k, v) for k, v in token_fields if k != "return_url"]
        return Rendered(xml_document(attrs, token_fields, b), b.xml_content_type)
    json_order = ("valid_minutes", "replace_token", "max_uploads", "return_url", "valid_until", "photo_id")
    if b.fault("json_missing_valid_until"):
        json_order = tuple(k for k in json_order if k != "valid_until")
    fields = dict(token_fields)
    token: dict[str, Any] = {k: fields[k] for k in json_order if k in fields} | b.extra_token_members
    if b.fault("json_numbers_not_strings"):
        token = {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in token.items()}
    obj: dict[str, Any] = {
        "status": "OK" if b.fault("json_status_uppercase") else "ok",
        "message": message,
        "permission_level": level,
        "cached": int(cached) if b.fault("json_numbers_not_strings") else cached,
        JSON_TOKEN_MEMBER: token,
        "p": "1",
        "size": "1",
        "site": site,
        "endpoint": b.endpoint,
    }
    if b.fault("json_token_fields_unwrapped"):
        obj = {k: v for k, v in obj.items() if k != JSON_TOKEN_MEMBER} | token
    return wrap_json(obj | b.extra_json_members, options, b)


def render_error(
    *, code: str, message: str, level: str, options: RenderOptions, behaviour: Behaviour
) -> Rendered:
    """An API error in the requested format (always served with HTTP 200)."""
    dropped = {"code"} if behaviour.fault("error_without_code") else set()
    if options.fmt == "json" and behaviour.fault("error_ignores_callback"):
        options = default_json_options(behaviour)
    if options.fmt == "xml":
        attrs = {"status": "error", "code": code, "message": message, "permission_level": level}
        attrs = {k: v for k, v in attrs.items() if k not in dropped}
        return Rendered(xml_document(attrs, None, behaviour), behaviour.xml_content_type)
    if behaviour.fault("json_error_without_message"):
        dropped.add("message")
    obj = {
        "status": "error",
        "code": code,
        "message": message,
        "permission_level": level,
        "endpoint": behaviour.endpoint,
    }
    return wrap_json({k: v for k, v in obj.items() if k not in dropped}, options, behaviour)
