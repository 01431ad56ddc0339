"""What strangers hand us: size- and depth-capped JSON, and text shown with control characters escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.model.text import printable
from conformance.results.untrusted import UntrustedInputError, parse_json, read_capped


def test_a_file_over_the_cap_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * 5000 + b"0]")
    with pytest.raises(UntrustedInputError, match="larger than 1000 bytes; refused"):
        read_capped(big, max_bytes=1000)
    assert read_capped(big, max_bytes=20_000).startswith(b"[0,")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 65 + b"]" * 65, "nested too deep"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"{'a': 1}", "not valid JSON"),
    ],
)
def test_malformed_json_is_one_error(data: bytes, message: str) -> None:
    with pytest.raises(UntrustedInputError, match=message):
        parse_json(data, "x.json")


def test_json_at_the_depth_limit_is_read() -> None:
    assert parse_json(b"[" * 64 + b"]" * 64, "x.json") is not None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\r\x1b[2Kb", "a\\r\\x1b[2Kb"),
        ("right\u202eto-left", "right\\u202eto-left"),
        ("bell\x07", "bell\\x07"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("ünïcode ✓", "ünïcode ✓"),
    ],
)
def test_printable_escapes_what_moves_the_cursor_or_reorders_text(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_bounds_length() -> None:
    assert printable("x" * 500, 10) == "x" * 10 + "... (490 more characters)"
