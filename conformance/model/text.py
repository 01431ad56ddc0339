"""Showing text that strangers wrote: control characters escaped, length bounded.

A requirement ID, a target URL or a message inside a certificate or results file comes from
whoever made that file. Printed raw, ``\\r\\x1b[2K`` can rewrite the line a reviewer reads ("INVALID"
becomes "valid"); so every such string passes through :func:`printable` on its way to a terminal.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Unicode categories that move the cursor, change colours or reorder text: control, format
# (bidi overrides, zero-width), line and paragraph separators, unassigned and private use.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(value: Any, limit: int | None = 300) -> str:
    """``value`` as one terminal-safe line: unsafe characters escaped, cut after ``limit`` characters."""
    text = (
        value if isinstance(value, str) else repr(value) if not isinstance(value, int | float) else str(value)
    )
    out = "".join(_escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)
    if limit is not None and len(out) > limit:
        out = out[:limit] + f"... ({len(out) - limit} more characters)"
    return out
