"""Reading a certificate bundle safely: in memory, through size caps, refusing unsafe archives.

The archive is never extracted to disk. Member names must be plain file names (no directories, no
``..``: path traversal is refused outright, not sanitised), there are few members, none encrypted,
and no member may expand beyond a cap or by a zip bomb's ratio, whatever its header claims.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

MAX_MEMBERS = 32
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200  # uncompressed/compressed beyond this (on members over 1 MiB) is a zip bomb
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class UnsafeBundle(Exception):
    """The file is not a bundle this command may read (exit 2)."""


class DamagedMember(Exception):
    """A member's bytes do not match its CRC: the archive was altered or corrupted (invalid)."""


def read_bundle(path: str | Path) -> dict[str, bytes]:
    """Every member of the bundle, in memory; UnsafeBundle for anything not safe to read."""
    p = Path(path)
    if not p.is_file():
        raise UnsafeBundle(f"{path}: no such file")
    if not zipfile.is_zipfile(p):
        raise UnsafeBundle(f"{path}: not a zip archive")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeBundle(f"{path}: not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeBundle(
                f"{path}: {len(infos)} members; a certificate bundle has at most {MAX_MEMBERS}"
            )
        names = [i.filename for i in infos]
        for name in names:
            if not _SAFE_NAME.fullmatch(name) or ".." in name:
                raise UnsafeBundle(
                    f"{path}: member {name!r} is not a plain file name (path traversal refused)"
                )
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UnsafeBundle(f"{path}: member(s) {', '.join(dupes)} appear more than once")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise UnsafeBundle(f"{path}: member {info.filename} is encrypted")
            if info.file_size > MAX_MEMBER_BYTES or (
                info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1)
            ):
                raise UnsafeBundle(
                    f"{path}: member {info.filename} expands to {info.file_size} bytes from "
                    f"{info.compress_size} (zip bomb refused)"
                )
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise UnsafeBundle(f"{path}: members expand to {total} bytes (zip bomb refused)")
        out = {}
        for info in infos:
            out[info.filename] = _read_capped(zf, info, path)
        return out


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str | Path) -> bytes:
    """Read one member, never more than its declared size (headers can lie about it)."""
    chunks, size = [], 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(1024 * 1024):
                size += len(chunk)
                if size > info.file_size or size > MAX_MEMBER_BYTES:
                    raise UnsafeBundle(
                        f"{path}: member {info.filename} is larger than declared (zip bomb refused)"
                    )
                chunks.append(chunk)
    except zipfile.BadZipFile as exc:
        raise DamagedMember(f"{info.filename}: damaged inside the archive ({exc})") from None
    except (NotImplementedError, OSError, EOFError) as exc:
        raise UnsafeBundle(f"{path}: member {info.filename} cannot be read ({exc})") from None
    return b"".join(chunks)
