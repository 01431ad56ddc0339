"""``conformance serve`` as a mock for client developers: its documentation and what it says on start.

The fault and variant page is generated from the tables the server runs from, so it cannot drift;
the README's commands parse with the real CLI (a renamed option or fault fails here); and on start
the server says where its config and credentials are and how long they last.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.cli import build_parser
from conformance.reference.cli import catalogue_markdown
from conformance.reference.faults import FAULT_LIST
from conformance.reference.variants import VARIANT_LIST

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "faults-and-variants.md"


def test_the_fault_and_variant_page_is_generated_from_the_tables() -> None:
    assert PAGE.read_text(encoding="utf-8") == "\n".join(catalogue_markdown()), (
        "stale: run `conformance serve --list --markdown > docs/faults-and-variants.md`"
    )
    text = PAGE.read_text(encoding="utf-8")
    for item in [*FAULT_LIST, *VARIANT_LIST]:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{item.name}` |")]
        assert " ".join(item.description.split()).replace("|", "\\|") in row


def test_the_cli_prints_the_same_page() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "serve", "--list", "--markdown"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == PAGE.read_text(encoding="utf-8")


def readme_try_it_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it against a local server", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith(".venv/bin/conformance ")]


def test_the_readme_try_it_commands_parse_and_name_real_faults() -> None:
    commands = readme_try_it_commands()
    assert [c[0] for c in commands] == ["serve", "run", "serve", "serve", "run"]
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # SystemExit (a failed test) on an unknown option
        assert all(name in {f.name for f in FAULT_LIST} for name in getattr(args, "fault", []) or [])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            (),
            "they change on every start (keep them with --db FILE); the port changes too",
        ),
        (("--db", "{tmp}/ref.db", "--port", "0"), "they are kept in {tmp}/ref.db across restarts; the port"),
    ],
)
def test_serve_says_where_the_credentials_are_and_how_long_they_last(
    tmp_path: Path, extra: tuple[str, ...], expected: str
) -> None:
    cfg = tmp_path / "target.toml"
    argv = [sys.executable, "-m", "conformance", "serve", "--write-config", str(cfg), "--quiet"]
    argv += [a.format(tmp=tmp_path) for a in extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"base_url and credentials (read, write, admin) are in {cfg}" in stderr
    assert expected.format(tmp=tmp_path) in stderr
    assert "secret" not in stderr.lower()  # where they are, never what they are
