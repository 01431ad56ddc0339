"""``conformance``: run | serve | selftest | validate | replay | catalog | report | matrix | certificate.

Dispatch only: each subcommand's module declares its arguments (``add_arguments``) and runs it
(``main``). Every module is imported plainly, so a broken one fails loudly instead of making its
subcommand vanish. Exit codes: :mod:`conformance.model.exit_codes` (``run``: 0 CONFORMANT,
1 NOT CONFORMANT, 2 usage or config error, 3 UNREACHABLE, 4 INCOMPLETE, 130 INTERRUPTED).
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Any

from conformance import __version__
from conformance.catalog import catalog_sha256
from conformance.commands import catalog, certificate_verify, matrix, replay, run, selftest, validate
from conformance.model.exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE
from conformance.model.versions import runtime_versions
from conformance.reference import cli as serve
from conformance.report import diff
from conformance.results.files import ReportWriteError

# name -> (help, the module: ``add_arguments(parser)`` declares the arguments, ``main(args)`` runs)
COMMANDS: dict[str, tuple[str, ModuleType]] = {
    "run": ("certify a target (default: the embedded reference)", run),
    "serve": ("run the embedded reference server", serve),
    "validate": ("validate saved responses against the shipped schemas", validate),
    "replay": ("re-send one API request, signed afresh (reproduction of a finding)", replay),
    "catalog": ("print the requirement catalog as Markdown", catalog),
    "selftest": ("prove the suite catches faults and passes variants", selftest),
    "report": ("work with results.json files", diff),
    "certificate": ("verify a certificate bundle, or make a signing key", certificate_verify),
    "matrix": ("many implementations side by side (matrix.html)", matrix),
}


# Plain text for --help (the module docstring is reStructuredText, which a terminal shows as is).
DESCRIPTION = (
    "Conformance suite for the TwentyThree /api/photo/get-replace-token method: certify a server "
    "(run), serve the reference or a faulty variant (serve), and work with the reports. "
    "'conformance COMMAND --help' explains each command."
)


def version_text() -> str:
    """``conformance --version``: the suite version, the digest of the catalog it certifies against,
    then Python and each runtime dependency it runs with (what a bug report or a pin needs)."""
    versions = runtime_versions()
    lines = [
        f"conformance {__version__} (catalog sha256 {catalog_sha256()})",
        f"  python {versions['python']}",
    ]
    dependencies = versions["dependencies"]
    assert isinstance(dependencies, dict)
    lines += [f"  {name} {version}" for name, version in dependencies.items()]
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            help="print the suite version, catalog digest and dependency versions",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description=DESCRIPTION)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, module) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = COMMANDS[args.command][1].main(args)
        return code
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_went_away()
    except ReportWriteError as exc:  # a full disk (matrix, selftest pages): the environment, exit 2
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _reader_went_away() -> int:
    """``conformance catalog | head``: the reader closed the pipe; end quietly, as Unix tools do.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise a second time.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
