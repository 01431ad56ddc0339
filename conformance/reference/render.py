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

from .behaviour import JS_NAME_RE, Behaviour

# Characters XML 1.0 cannot carry at all, even escaped.
XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class RenderOptions:
    """How a response is to be rendered."""

    fmt: str = "xml"  # "xml" | "json"
    wrapper: str = "var"  # "var" | "raw" | "callback"
    name: str = "visual"


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
    if params.get("format", "").strip().lower() != "json":
        return RenderOptions(fmt="xml")
    callback = params.get("callback", "")
    varname = params.get("varname", "")
    if callback:
        if not JS_NAME_RE.match(callback):
            raise BadRenderName("callback")
        return RenderOptions(fmt="json", wrapper="callback", name=callback)
    if "raw" in params:
        return RenderOptions(fmt="json", wrapper="raw")
    if varname:
        if not JS_NAME_RE.match(varname):
            raise BadRenderName("varname")
        return RenderOptions(fmt="json", wrapper="var", name=varname)
    return RenderOptions(fmt="json", wrapper="var", name=behaviour.default_varname)


def default_json_options(behaviour: Behaviour) -> RenderOptions:
    return RenderOptions(fmt="json", wrapper="var", name=behaviour.default_varname)


def js_safe_json(obj: Any) -> str:
    """JSON with raw UTF-8 that is also safe inside a ``<script>`` block and in JavaScript."""
    text = json.dumps(obj, ensure_ascii=False)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def wrap_json(obj: dict[str, Any], options: RenderOptions, behaviour: Behaviour) -> Rendered:
    text = js_safe_json(obj)
    if options.wrapper == "raw":
        out = text
    elif options.wrapper == "callback":
        out = f"{options.name}({text});"
    else:
        out = f"var {options.name} = {text};"
    return Rendered((out + "\n").encode("utf-8"), behaviour.json_content_type)


def _xml_text(value: str) -> str:
    return escape(value, {"\r": "&#13;"})


def _xml_attr(value: str) -> str:
    return quoteattr(value, {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def xml_document(attrs: dict[str, str], children: list[tuple[str, str]] | None) -> bytes:
    head = "".join(f" {k}={_xml_attr(v)}" for k, v in attrs.items())
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if children is None:
        return (decl + f"<response{head}/>\n").encode("utf-8")
    inner = "".join(
        f"  <{tag}>{_xml_text(text)}</{tag}>\n" if text else f"  <{tag}/>\n" for tag, text in children
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
    if options.fmt == "xml":
        attrs = {"status": "ok", "permission_level": level, "message": message, "cached": "0"}
        return Rendered(xml_document(attrs, token_fields), behaviour.xml_content_type)
    json_order = ("valid_minutes", "replace_token", "max_uploads", "return_url", "valid_until", "photo_id")
    fields = dict(token_fields)
    obj = {
        "status": "ok",
        "message": message,
        "permission_level": level,
        "cached": "0",
        "replacetoken": {k: fields[k] for k in json_order},
        "p": "1",
        "size": "1",
        "site": site,
        "endpoint": behaviour.endpoint,
    }
    return wrap_json(obj, options, behaviour)


def render_error(
    *, code: str, message: str, level: str, options: RenderOptions, behaviour: Behaviour
) -> Rendered:
    """An API error in the requested format (always served with HTTP 200)."""
    if options.fmt == "xml":
        attrs = {"status": "error", "code": code, "message": message, "permission_level": level}
        return Rendered(xml_document(attrs, None), behaviour.xml_content_type)
    obj = {
        "status": "error",
        "code": code,
        "message": message,
        "permission_level": level,
        "endpoint": behaviour.endpoint,
    }
    return wrap_json(obj, options, behaviour)
