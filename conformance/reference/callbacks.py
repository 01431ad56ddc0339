"""Building and delivering the redeem callback (browser-based-uploads.md, sections 4a/4b).

Positions:
- the callback URL is ``return_url`` with the callback parameters appended: with ``&`` when it
  already has a query, ``?`` otherwise; its own query parameters are kept and any fragment stays
  at the end. Non-ASCII characters are percent-encoded (UTF-8) so the URL fits in a header, and the
  length threshold is measured on that final ASCII URL (an internationalised host is IDNA-encoded).
- callback parameters come first (``domain``, ``replace_token`` then ``photo_id``, ``tree_id``,
  ``token`` or ``error_message``), followed by the extra form fields in the order sent; an extra
  field whose name collides with a callback parameter is dropped (the server's value wins). The
  token's other documented name, ``upload_token``, counts as a callback parameter too.
- every value is URL-encoded, so it reaches ``return_url`` exactly as sent; return_url's own query
  is kept as given (its escapes included).
- at most ``callback_threshold`` characters: HTTP 301 with ``Location``; longer: an HTML page with a
  form that POSTs the parameters (hidden inputs) to ``return_url`` unchanged, auto-submitted.
- callbacks go only to ``http``/``https`` URLs (relative ones too for browser redirects);
  any other scheme (``javascript:``, ``data:``...) is never redirected to nor put in a form.
- background delivery: one HTTP GET, no redirects followed, ~5 s timeout, only for absolute
  http(s) URLs of at most ``background_max_chars`` characters (longer ones are refused before
  anything is replaced).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from conformance.spec import CALLBACK_PARAMS

from .behaviour import Behaviour

RESERVED = CALLBACK_PARAMS
"""The documented callback parameters (both token names): an extra form field never overrides one."""
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def to_ascii_url(url: str) -> str:
    """An ASCII-only form of ``url``: IDNA host, UTF-8 percent-encoding elsewhere (escapes kept)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port
    except ValueError:
        return quote(url, safe=URL_SAFE)
    if parts.netloc and not parts.netloc.isascii() and hostname:
        try:
            host = hostname.encode("idna").decode("ascii")
        except UnicodeError:
            host = ""
        if host:
            userinfo, at, _ = parts.netloc.rpartition("@")
            netloc = f"{userinfo}{at}{host}" + (f":{port}" if port is not None else "")
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return quote(url, safe=URL_SAFE)


def scheme_allowed(url: str, *, absolute_only: bool = False) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() in ("http", "https"):
        return bool(parts.netloc)
    return not absolute_only and parts.scheme == "" and not url.lstrip().startswith("//")


@dataclass(frozen=True)
class Callback:
    """A callback: where it goes and with which parameters."""

    return_url: str
    params: list[tuple[str, str]]
    raw_values: bool = False  # fault callback_values_not_encoded: values joined without URL-encoding

    @property
    def address(self) -> str:
        """return_url as the callback uses it; with ``raw_values`` its own query decoded and joined raw."""
        if not self.raw_values:
            return self.return_url
        base, hash_, fragment = self.return_url.partition("#")
        path, question, query = base.partition("?")
        decoded = parse_qsl(query, keep_blank_values=True)
        return path + question + _join_raw(decoded) + hash_ + fragment

    @property
    def url(self) -> str:
        """The GET-style callback URL, ASCII only."""
        base, hash_, fragment = self.address.partition("#")
        query = _join_raw(self.params) if self.raw_values else urlencode(self.params)
        sep = ("" if base.endswith(("?", "&")) else "&") if "?" in base else "?"
        return to_ascii_url(base + sep + query + hash_ + fragment)


def _join_raw(pairs: list[tuple[str, str]]) -> str:
    """The fault's query: name=value pairs joined with no URL-encoding at all."""
    return "&".join(f"{k}={v}" for k, v in pairs)


def callback_params(
    base: list[tuple[str, str]], extra_fields: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    return base + [(k, v) for k, v in extra_fields if k not in RESERVED]


def form_page(callback: Callback) -> str:
    """The auto-submitting HTML form used when the callback URL is too long for a redirect."""
    inputs = "\n".join(
        f'    <input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(v, quote=True)}">'
        for k, v in callback.params
    )
    action = html.escape(to_ascii_url(callback.address), quote=True)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Returning</title></head>\n'
        "<body>\n"
        f'  <form id="callback" method="post" action="{action}">\n{inputs}\n'
        '    <noscript><input type="submit" value="Continue"></noscript>\n'
        "  </form>\n"
        '  <script>document.getElementById("callback").submit();</script>\n'
        "</body></html>\n"
    )


def deliver_background(url: str, behaviour: Behaviour) -> str:
    """Make the server-side GET; returns a short status for the replacement history."""
    try:
        resp = requests.get(url, timeout=behaviour.background_timeout_seconds, allow_redirects=False)
    except requests.RequestException as exc:
        return f"failed: {exc.__class__.__name__}"
    return f"http {resp.status_code}"
