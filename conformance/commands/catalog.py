"""``conformance catalog``: the requirement catalog as Markdown, optionally with the tests of each."""

from __future__ import annotations

import argparse

from conformance.catalog import render_markdown
from conformance.commands.selection import collect_test_index
from conformance.model.exit_codes import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-tests", action="store_true")


def main(args: argparse.Namespace) -> int:
    print(render_markdown(collect_test_index() if args.with_tests else None))
    return EXIT_OK
