"""``conformance catalog``: the requirement catalog as Markdown, with the tests and checks of each.

``--write-index`` regenerates the checked-in conformance index (``conformance/catalog/index.json``)
from the suite's markers and the checks its tests call.
"""

from __future__ import annotations

import argparse

from conformance.catalog import checks_by_requirement, load_index, render_markdown
from conformance.commands.selection import collect_test_index
from conformance.model.exit_codes import EXIT_OK
from conformance.suite.index import INDEX_PATH, render_index, render_tests_markdown


def requirements_document() -> str:
    """docs/requirements.md: the catalog with each requirement's tests and checks, then the tests."""
    index = load_index()
    return (
        render_markdown(collect_test_index(), checks_by_requirement(index))
        + "\n"
        + render_tests_markdown(index)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--with-tests", action="store_true", help="list the suite tests and checks behind each requirement"
    )
    parser.add_argument(
        "--write-index", action="store_true", help=f"regenerate {INDEX_PATH.name} (the conformance index)"
    )


def main(args: argparse.Namespace) -> int:
    if args.write_index:
        INDEX_PATH.write_text(render_index(), encoding="utf-8")
        print(f"wrote {INDEX_PATH}")
        return EXIT_OK
    if args.with_tests:
        print(requirements_document())
    else:
        print(render_markdown())
    return EXIT_OK
