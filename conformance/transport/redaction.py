"""Removing secrets and OAuth signatures from everything the suite records, writes or prints.

A hostile target can reflect what it received (the Authorization header, the URL, the form body)
in any encoding. For every secret of the config and every signature the client sent, the
:class:`Redactor` knows the forms a reflecting server plausibly produces:

- the value itself, reversed, and split in two halves;
- its bytes in base64 and base64url (at each of the three alignments a longer encoded text may
  put it in) and in hex, lower and upper case;
- each of those percent-encoded (once or twice, either case, ``+`` for space), JSON-escaped and
  HTML/XML-escaped; mixes of those escapes are undone with a position map;
- the base64 and hex forms of its percent-encoded text (as inside an Authorization header), so a
  target echoing the whole header base64- or hex-encoded reveals nothing either.

Redaction never works on a serialised document: results are redacted value by value
(:meth:`Redactor.scrub_value`) before they are written, so the structure of results.json and
report.html is never touched. Recorded evidence (what the checks judge) is redacted only of
*distinctive* needles (at least :data:`MIN_ANYWHERE` characters): a short secret such as ``s``
must not change ``false`` into ``fal<redacted>e`` or make a correct answer look broken. Short
needles are removed from the outputs only where they stand as a whole token (between
non-alphanumeric characters), which is where a reflection of them shows.
"""

from __future__ import annotations

import base64
import bisect
import html
import itertools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

REDACTED = "<redacted>"
BODY_REDACTED = "[redacted]"  # in response bodies: no markup characters, so a redaction cannot break XML
MIN_ANYWHERE = 8  # a needle at least this long is removed wherever it appears; shorter: whole tokens only
_K = 8  # the index's k-gram length
_STEP = 7  # the index samples every _STEP-th position: needles of _K + _STEP - 1 = 14+ chars are indexed
_MIN_INDEXED = _K + _STEP - 1
# ``oauth_signature`` followed by its value, however a server may have reflected it: header (``="v"``),
# query/form (``=v``, ``%3Dv``, ``%253Dv``), JSON (``": "v"``, ``\\": \\"v``), HTML (``=&quot;v``).
_SIGNATURE_RE = re.compile(
    r'(oauth_signature(?:%3D|%253D|=\\"|="|=&quot;|=&#34;|=&#x22;|\\?"\s*:\s*\\?"|=))([^"&\s,\\<>;]+)',
    re.IGNORECASE,
)
_JSON_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")
# One character of text or one escape standing for one (XML/HTML entity, JSON, percent-encoded once or twice).
_ESCAPE_UNIT = re.compile(
    r"&#[xX][0-9A-Fa-f]{1,6};|&#\d{1,7};|&[A-Za-z][A-Za-z0-9]{1,7};|\\u[0-9A-Fa-f]{4}|\\/"
    r"|%25[0-9A-Fa-f]{2}|%[0-9A-Fa-f]{2}|.",
    re.DOTALL,
)
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")  # results.json's own keys: never target data


class Redactor:
    """Removes secrets and OAuth signatures from anything the suite records, writes or prints."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._signatures: set[str] = set()
        self._origin: dict[str, str] = {}  # needle -> the secret or signature it was derived from
        self._index: dict[str, list[tuple[str, int]]] = {}  # k-gram -> (needle, offset in needle)
        self._medium: set[str] = set()  # MIN_ANYWHERE <= len < _MIN_INDEXED: one regex
        self._short: set[str] = set()  # shorter: whole tokens only
        self._medium_re: re.Pattern[str] | None = None
        self._short_re: re.Pattern[str] | None = None
        for secret in sorted({s for s in secrets if s}):
            self._learn(secret)

    # -- what to look for ---------------------------------------------------------------------
    def add_signature(self, signature: str) -> None:
        """Remember a signature this client sent (decoded form) so any reflection of it is removed.

        An HMAC-SHA1 signature has 28 characters; a shorter value is no real signature (a test's
        own ``oauth_signature`` parameter, say) and stays covered by the ``oauth_signature=`` pattern.
        """
        if len(signature) >= MIN_ANYWHERE and signature not in self._signatures:
            self._signatures.add(signature)
            self._learn(signature)

    def _learn(self, value: str) -> None:
        for needle in base_forms(value) | header_forms(value):
            if needle in self._origin:
                continue
            self._origin[needle] = value
            if len(needle) >= _MIN_INDEXED:
                for offset in range(_STEP):
                    self._index.setdefault(needle[offset : offset + _K], []).append((needle, offset))
            elif len(needle) >= MIN_ANYWHERE:
                self._medium.add(needle)
                self._medium_re = _alternation(self._medium, whole_token=False)
            else:
                self._short.add(needle)
                self._short_re = _alternation(self._short, whole_token=True)

    def _find(self, text: str, *, short: bool) -> set[str]:
        """The needles (base forms) present in ``text`` as they are."""
        found: set[str] = set()
        index = self._index
        if index:
            for p in range(0, len(text) - _K + 1, _STEP):
                entries = index.get(text[p : p + _K])
                if entries:
                    for needle, offset in entries:
                        start = p - offset
                        if start >= 0 and text.startswith(needle, start):
                            found.add(needle)
        if self._medium_re is not None:
            found.update(m.group(0) for m in self._medium_re.finditer(text))
        if short and self._short_re is not None:
            found.update(m.group(0) for m in self._short_re.finditer(text))
        return found

    def _found_anywhere(self, text: str, *, short: bool) -> set[str]:
        """Needles in ``text`` raw or behind HTML/JSON/percent escapes (nested up to three times)."""
        found = self._find(text, short=short)
        if "&" in text or "\\" in text or "%" in text:
            found |= self._find(_normalise_escapes(text), short=short)
        return found

    def _known_in(self, text: str) -> set[str]:
        """The signatures ``text`` still reveals, in any of the known forms."""
        return {
            self._origin[n]
            for n in self._found_anywhere(text, short=True)
            if self._origin[n] in self._signatures
        }

    # -- removing -----------------------------------------------------------------------------
    def scrub(self, text: str, marker: str = REDACTED, *, short: bool = True) -> str:
        """``text`` without secrets or signatures; ``marker`` stands where one was.

        ``short=False`` leaves needles shorter than :data:`MIN_ANYWHERE` alone: for recorded
        evidence that checks still judge.
        """
        if not text:
            return text
        if "oauth_signature" in text or "OAUTH_SIGNATURE" in text.upper():
            text = _SIGNATURE_RE.sub(lambda m: m.group(1) + marker, text)
        found = self._found_anywhere(text, short=short)
        if not found:
            return text
        for needle in sorted(found, key=len, reverse=True):
            for variant in sorted(escaped_forms(needle), key=len, reverse=True):
                if len(variant) >= MIN_ANYWHERE:
                    text = text.replace(variant, marker)
                else:
                    text = _whole_token(variant).sub(marker, text)
        left = self._found_anywhere(text, short=short)
        if not left:
            return text
        text = _redact_decoded(text, left, marker)
        if self._found_anywhere(text, short=short):
            return f"{marker} (the target reflected a secret or signature in an unrecognised encoding)"
        return text

    def scrub_bytes(self, data: bytes, marker: str = BODY_REDACTED) -> bytes:
        """A recorded response body without distinctive secrets or signatures (what checks judge)."""
        if not self._origin and b"oauth_signature" not in data.lower():
            return data
        text = data.decode("utf-8", errors="surrogateescape")
        scrubbed = self.scrub(text, marker, short=False)
        if scrubbed == text:
            return data
        return scrubbed.encode("utf-8", errors="surrogateescape")

    def scrub_value(self, value: Any, marker: str = REDACTED) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings) with every string scrubbed.

        Keys that look like the suite's own field names are kept as they are; the structure is
        never changed, so the serialised document stays valid whatever the secrets are.
        """
        if isinstance(value, str):
            return self.scrub(value, marker)
        if isinstance(value, dict):
            return {
                (k if not isinstance(k, str) or _FIELD_NAME.fullmatch(k) else self.scrub(k, marker)): (
                    self.scrub_value(v, marker)
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.scrub_value(v, marker) for v in value]
        return value

    def scrub_document(self, text: str, marker: str = BODY_REDACTED) -> str:
        """Last defence on a rendered document (HTML, XML): distinctive needles only, no markup marker.

        Short needles could match the document's own syntax; its values were scrubbed already.
        """
        return self.scrub(text, marker, short=False)


# ------------------------------------------------------------------ the forms of a value
def base_forms(value: str) -> set[str]:
    """The value, reversed, its halves, and its bytes in base64/base64url and hex.

    For base64 the characters that depend only on the value are taken at each of the three
    byte alignments, so the value is found inside a longer encoded text too. A value shorter
    than :data:`MIN_ANYWHERE` gets its complete encodings instead (matched as whole tokens).
    """
    forms = {value, value[::-1]}
    n = len(value)
    if n >= MIN_ANYWHERE:
        for cut in {n // 2, (n + 1) // 2}:
            forms |= {value[:cut], value[cut:]}
    return {f for f in forms | byte_forms(value) if f}


def byte_forms(value: str) -> set[str]:
    """The value's bytes in hex (both cases) and base64/base64url (see :func:`base_forms`)."""
    raw = value.encode("utf-8")
    forms: set[str] = set()
    n = len(value)
    if n >= 4:  # a shorter value's encodings are too short to tell from ordinary text
        forms |= {raw.hex(), raw.hex().upper()}
    if n >= MIN_ANYWHERE:
        for align in range(3):
            encoded = base64.b64encode(b"\0" * align + raw).decode("ascii")
            first, last = -(-8 * align // 6), (8 * (align + len(raw))) // 6
            core = encoded[first:last]
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    elif n >= 4:
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            full = encode(raw).decode("ascii")
            forms |= {full, full.rstrip("=")}
    return {f for f in forms if f}


def header_forms(value: str) -> set[str]:
    """The base64/base64url and hex forms of the value as an Authorization header carries it.

    A header holds the signature percent-encoded (RFC 5849, 3.5.1 and 3.6), and with PLAINTEXT the
    secrets twice; a target that echoes the whole header base64- or hex-encoded then shows the
    encoded bytes of *that* text, which the value's own encodings do not match. The percent-encoded
    text itself needs no needle: escapes are undone before searching.
    """
    once = quote(value, safe="~")
    if once == value or len(value) < MIN_ANYWHERE:
        return set()
    forms: set[str] = set()
    for encoded in (once, quote(once, safe="~")):
        forms |= byte_forms(encoded)
    return forms


def escaped_forms(value: str) -> set[str]:
    """The forms a value takes when a server reflects it escaped (percent, JSON, HTML/XML)."""
    once = quote(value, safe="")
    entities = value.replace("&", "&amp;").replace("+", "&#43;").replace("/", "&#47;").replace("=", "&#61;")
    return {
        value,
        once,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), once),
        quote_plus(value, safe=""),
        quote(once, safe=""),
        value.replace("/", "\\/"),
        entities,
        entities.replace("&amp;", "&"),
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"),
        value.replace("\\", "\\\\").replace('"', '\\"'),
    } - {""}


def _alternation(needles: set[str], *, whole_token: bool) -> re.Pattern[str]:
    body = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    if whole_token:
        return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])")
    return re.compile(f"(?:{body})")


def _whole_token(needle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])")


# ------------------------------------------------------------------ escapes
def _normalise_escapes(text: str) -> str:
    """Undo the encodings a reflected value may come back in (HTML/XML, JSON, percent), nested too."""
    for _ in range(3):
        before = text
        if "&" in text:
            text = html.unescape(text)
        if "\\" in text:
            text = _JSON_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("\\/", "/")
        if "%" in text:
            text = unquote(text)
        if text == before:
            break
    return text


def _decode_unit(unit: str) -> str:
    if len(unit) == 1:
        return unit
    if unit.startswith("&"):
        return html.unescape(unit)
    if unit.startswith("\\u"):
        return chr(int(unit[2:], 16))
    if unit == "\\/":
        return "/"
    return chr(int(unit[-2:], 16))  # %XX or %25XX


def _spans(text: str, needles: set[str], depth: int = 0) -> list[tuple[int, int]]:
    """Where in ``text`` the needles are, raw or behind up to three nested layers of escapes."""
    spans = []
    for needle in needles:
        at = text.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = text.find(needle, at + 1)
    units = list(_ESCAPE_UNIT.finditer(text)) if depth < 3 else []
    if any(m.end() - m.start() > 1 for m in units):  # one layer of escapes to peel off
        decoded = [_decode_unit(m.group()) for m in units]
        offsets = list(itertools.accumulate((len(d) for d in decoded), initial=0))
        for start, end in _spans("".join(decoded), needles, depth + 1):
            first = bisect.bisect_right(offsets, start) - 1
            last = bisect.bisect_right(offsets, end - 1) - 1
            spans.append((units[first].start(), units[last].end()))
    return spans


def _redact_decoded(text: str, needles: set[str], marker: str) -> str:
    """Replace needles however deeply escaped, mapping positions back to the original text."""
    out, pos = [], 0
    for start, end in sorted(_spans(text, needles)):
        start = max(start, pos)
        if start >= end:
            continue
        out += [text[pos:start], marker]
        pos = end
    return "".join([*out, text[pos:]])
