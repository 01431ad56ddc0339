"""Reading what a redemption got back: the answer, a background ``ok`` line, the stored history.

A redeem answer is read once into a :class:`RedeemAnswer` (a redirect, an HTML form, plain text,
or something else) and the checks judge that reading; reading judges nothing. The shapes are
photo-redeem-replace-token.md (Returns) and browser-based-uploads.md (4a, 4b).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from conformance.model.exchange import Exchange
from conformance.parse.forms import read_html_form

_HTML_TAG = re.compile(
    r"<\s*/?\s*(?:html|head|body|div|p|span|h[1-6]|form|script|style|table|br|b|i)\b", re.I
)

AnswerKind = Literal["redirect", "form", "text", "other", "none"]


def cut(text: str, limit: int = 200) -> str:
    """``text`` short enough to show as evidence, with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def query_pairs(url: str) -> list[tuple[str, str]]:
    """The decoded query of ``url``, blank values and repeats kept, in order."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def has_markup(text: str) -> bool:
    """Whether ``text`` holds HTML markup (a styled page rather than a plain message)."""
    return _HTML_TAG.search(text) is not None


@dataclass(frozen=True)
class RedeemAnswer:
    """What a redeem request got back, read once."""

    exchange: Exchange
    kind: AnswerKind
    location: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)  # the callback's: Location query or form
    form_action: str | None = None
    form_method: str | None = None
    text: str = ""

    @property
    def status(self) -> int | None:
        """The HTTP status (None when no response came back)."""
        return self.exchange.response.status if self.exchange.response else None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def is_callback(self) -> bool:
        return self.kind in ("redirect", "form")

    @property
    def outcome(self) -> Literal["success", "error", "unclear"]:
        """Success is a callback without error_message or an ``ok`` line; plain text is an error."""
        if self.is_callback:
            return "error" if self.param("error_message") is not None else "success"
        if self.kind == "text":
            return "success" if self.text.startswith("ok ") else "error"
        return "unclear"

    def describe(self) -> str:
        if self.kind == "none":
            return f"no response ({self.exchange.error})"
        if self.kind == "redirect":
            where = self.location or ""
            return f"HTTP {self.status} redirect to {cut(where)} ({len(where)} chars)"
        if self.kind == "form":
            return (
                f"HTTP {self.status} HTML form {self.form_method or 'GET'} to {cut(self.form_action or '')}"
            )
        return f"HTTP {self.status} {self.kind} {cut(self.text)!r}"


def read_redeem_answer(exchange: Exchange) -> RedeemAnswer:
    """Classify a redeem response: redirect (3xx + Location), HTML form, plain text, or other."""
    resp = exchange.response
    if resp is None:
        return RedeemAnswer(exchange, "none")
    text = resp.text.strip()
    location = resp.header("Location")
    if 300 <= resp.status < 400:
        if not location:
            return RedeemAnswer(exchange, "other", text=text)
        return RedeemAnswer(exchange, "redirect", location, query_pairs(location), text=text)
    form = read_html_form(resp.text)
    if form is not None:
        return RedeemAnswer(exchange, "form", location, form.pairs, form.action, form.method, text)
    return RedeemAnswer(exchange, "text", location, text=text)


@dataclass(frozen=True)
class BackgroundLine:
    """A background success: ``ok <domain> <tree_id> <photo_id> <token> <callback_url>``."""

    domain: str
    tree_id: str
    photo_id: str
    token: str
    callback_url: str


def parse_background_ok(text: str) -> BackgroundLine | None:
    """Read ``ok <domain> <tree_id> <photo_id> <token> <callback_url>`` (photo-redeem-replace-token.md)."""
    parts = text.strip().split()
    if len(parts) != 6 or parts[0] != "ok":
        return None
    return BackgroundLine(*parts[1:])


@dataclass(frozen=True)
class PhotoHistory:
    """The replacement history a reference-style ``/_test/photo/<id>`` hook reports."""

    tree_id: str
    token: str
    sha256s: tuple[str, ...]
    exchange: Exchange | None = None
