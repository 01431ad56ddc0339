"""``conformance validate FILE...``: check saved responses offline, without a server.

Lets a vendor (or a bug report) check a captured body against the shipped schemas. A file
is either a response body (XML, or JSON in any wrapper) or a redeem callback URL (a line
starting with ``http://``/``https://``/``?`` whose query string holds the callback
parameters). Exit status: 0 all valid (warnings allowed), 1 a violation, 2 a file that
could not be read.
"""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from conformance.parse.schemas import Violation, validate_callback_params, validate_response_body

__all__ = ["main", "validate_bytes"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2

_URL_PREFIXES = (b"http://", b"https://", b"?")


def _callback_violations(line: str) -> list[Violation]:
    """Validate the query string of a callback URL; a repeated parameter is ambiguous, so flagged."""
    query = urlsplit(line).query if not line.startswith("?") else line[1:]
    pairs = parse_qsl(query, keep_blank_values=True)
    params: dict[str, str] = {}
    violations: list[Violation] = []
    for name, value in pairs:
        if name in params:
            violations.append(Violation(f"$.{name}", f"{name}: callback parameter given more than once"))
        params[name] = value
    return violations + validate_callback_params(params)


def validate_bytes(data: bytes) -> list[Violation]:
    """Validate one saved file's content: a callback URL or a response body."""
    stripped = data.strip()
    if stripped.startswith(_URL_PREFIXES) and b"\n" not in stripped:
        try:
            line = stripped.decode("utf-8")
        except UnicodeDecodeError:
            return [Violation("/", "callback URL is not valid UTF-8")]
        return _callback_violations(line)
    return validate_response_body(data)


def main(paths: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate each file, print ``FILE: PATH: message`` per violation or ``FILE: valid``."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not paths:
        print("usage: conformance validate FILE...", file=err)
        return EXIT_UNREADABLE
    unreadable = invalid = False
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=err)
            unreadable = True
            continue
        violations = validate_bytes(data)
        for violation in violations:
            print(f"{path}: {violation}", file=out)
        if any(v.severity == "error" for v in violations):
            invalid = True
        else:
            print(f"{path}: valid", file=out)
    if unreadable:
        return EXIT_UNREADABLE
    return EXIT_INVALID if invalid else EXIT_OK


if __name__ == "__main__":  # pragma: no cover - the CLI entry point is conformance.commands.cli
    sys.exit(main(sys.argv[1:]))
