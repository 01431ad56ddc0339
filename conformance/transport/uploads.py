"""Tiny, valid image files generated in memory for redeem uploads, and a multipart encoder.

The full profile replaces ``photo_id``'s file many times, so every upload is a few dozen bytes
(a 1x1 PNG or GIF) that a real media pipeline still accepts as an image. Each file carries a
fresh nonce (a PNG ``tEXt`` chunk or a GIF comment), so its SHA-256 identifies exactly which
upload a target stored. No imaging library is needed: the formats are written with zlib/struct.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_counter = itertools.count(1)


@dataclass(frozen=True)
class Upload:
    """One file to upload: what a browser's file input would send."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(rgb: tuple[int, int, int], comment: str = "") -> bytes:
    """A 1x1 truecolour PNG of one colour, with an optional ``tEXt`` comment."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit, RGB, deflate, no filter, no interlace
    raw = b"\x00" + bytes(rgb)  # filter byte 0 + one pixel
    chunks = [_png_chunk(b"IHDR", ihdr)]
    if comment:
        chunks.append(_png_chunk(b"tEXt", b"Comment\x00" + comment.encode("latin-1")))
    chunks += [_png_chunk(b"IDAT", zlib.compress(raw)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def gif(rgb: tuple[int, int, int], comment: str = "") -> bytes:
    """A 1x1 GIF89a of one colour (two-entry palette), with an optional comment extension."""
    out = [b"GIF89a", struct.pack("<HHBBB", 1, 1, 0x80, 0, 0), bytes(rgb), b"\x00\x00\x00"]
    if comment:
        data = comment.encode("latin-1")
        out.append(b"\x21\xfe")
        out += [bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)]
        out.append(b"\x00")
    # Image descriptor, LZW minimum code size 2, one sub-block: CLEAR(4), index 0, END(5) in 3-bit codes.
    out += [b"\x2c", struct.pack("<HHHHB", 0, 0, 1, 1, 0), b"\x02\x02\x44\x01\x00", b"\x3b"]
    return b"".join(out)


def make_upload(kind: Literal["png", "gif"] | None = None) -> Upload:
    """A fresh, unique tiny image (PNG and GIF alternate unless ``kind`` is given)."""
    n = next(_counter)
    kind = kind or ("png" if n % 2 else "gif")
    rgb = (secrets.randbelow(256), secrets.randbelow(256), secrets.randbelow(256))
    comment = f"conformance upload {n} {secrets.token_hex(8)}"
    if kind == "png":
        return Upload(f"conformance-{n}.png", "image/png", png(rgb, comment))
    return Upload(f"conformance-{n}.gif", "image/gif", gif(rgb, comment))


def _header_value(text: str) -> str:
    """Quote a name for Content-Disposition the way browsers do (HTML spec: %22, %0D, %0A)."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_form(
    fields: Sequence[tuple[str, str]],
    file: Upload | None,
    *,
    file_field: str = "file",
    empty_file_part: bool = True,
) -> tuple[bytes, str]:
    """Encode a browser-style ``multipart/form-data`` body; returns (body, Content-Type).

    With ``file=None`` and ``empty_file_part`` the body carries a file part with an empty filename
    and no bytes, as a browser sends a form whose file input was left empty.
    """
    boundary = "----conformance" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_header_value(name)}"\r\n\r\n'
        parts.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")
    if file is not None or empty_file_part:
        filename = file.filename if file else ""
        ctype = file.content_type if file else "application/octet-stream"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_header_value(file_field)}"; '
            f'filename="{_header_value(filename)}"\r\nContent-Type: {ctype}\r\n\r\n'
        )
        parts.append(head.encode("utf-8") + (file.data if file else b"") + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
