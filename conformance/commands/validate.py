"""``conformance validate FILE...``: check saved responses offline, without a server.

Lets a vendor (or a bug report) check a captured body against the shipped schemas. A file
is either a response body (XML, or JSON in any wrapper) or a redeem callback URL (a line
starting with ``http://``/``https://``/``?`` whose query string holds the callback
parameters). Exit status: 0 all valid (warnings allowed), 1 a violation, 2 a file that
could not be read.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.parse.schemas import Violation, validate_callback_params, validate_response_body

__all__ = ["add_arguments", "main", "validate_bytes", "validate_files"]

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+")


def main(args: argparse.Namespace) -> int:
    return validate_files(args.files)


def validate_files(paths: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate each file, print ``FILE: PATH: message`` per violation or ``FILE: valid``."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not paths:
        print("usage: conformance validate FILE...", file=err)
        return EXIT_USAGE
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
        return EXIT_USAGE
    return EXIT_FAILED if invalid else EXIT_OK
