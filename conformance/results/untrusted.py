"""Reading JSON that strangers hand us: size-capped, depth-capped, validated against our schemas.

``report diff``, ``matrix`` and ``certificate verify`` read results files and certificates that
someone else wrote. Nothing in them is used before it has passed three gates: the byte size
(a 60 MB file is refused before it is parsed), the nesting depth (100,000 nested arrays must not
blow the interpreter's stack) and the project's own JSON Schema. Anything else is one line of
:class:`UntrustedInputError`, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.model.text import printable
from conformance.parse.schemas import json_validator

MAX_JSON_BYTES = 32 * 1024 * 1024  # results.json of a thorough full run is a few MB
MAX_DEPTH = 64  # results.json nests about 10 deep
RESULTS_SCHEMA = "results.schema.json"
CERTIFICATE_SCHEMA = "certificate.schema.json"


class UntrustedInputError(Exception):
    """A file from a stranger is not one we will use: too large, too deep, not JSON or off-schema."""


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(data: bytes, source: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """JSON text of at most ``max_bytes`` and ``MAX_DEPTH`` levels, parsed; else UntrustedInputError."""
    where = printable(source, 200)
    if len(data) > max_bytes:
        raise UntrustedInputError(f"{where}: {len(data)} bytes; at most {max_bytes} are read")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UntrustedInputError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise UntrustedInputError(f"{where}: nested too deep (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise UntrustedInputError(f"{where}: not valid JSON ({printable(str(exc), 120)})") from None
    if _deeper_than(value, MAX_DEPTH):
        raise UntrustedInputError(f"{where}: nested too deep (at most {MAX_DEPTH} levels)")
    return value


def read_capped(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """A file's bytes, never more than ``max_bytes`` + 1 read (a huge file is refused, not loaded)."""
    where = printable(str(path), 200)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UntrustedInputError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise UntrustedInputError(f"{where}: is a directory, not a file") from None
    except OSError as exc:
        raise UntrustedInputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UntrustedInputError(f"{where}: larger than {max_bytes} bytes; refused")
    return data


def validate(value: Any, schema: str, source: str) -> None:
    """``value`` against one of the shipped schemas; the first violation, where and what, in one line."""
    error = next(iter(sorted(json_validator(schema).iter_errors(value), key=lambda e: list(e.path))), None)
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    raise UntrustedInputError(
        f"{printable(source, 200)}: not a {schema.split('.')[0]} document this suite reads: at "
        f"{printable(where, 120)}: {printable(error.message, 200)}"
    )


def load_results_bytes(data: bytes, source: str) -> dict[str, Any]:
    """A results.json document from bytes, through every gate."""
    value = parse_json(data, source)
    validate(value, RESULTS_SCHEMA, source)
    return value  # type: ignore[no-any-return]


def load_results_file(path: str | Path) -> dict[str, Any]:
    """A results.json file, through every gate (UntrustedInputError: one line, exit 2)."""
    return load_results_bytes(read_capped(path), str(path))
