"""``conformance validate FILE...`` through :func:`conformance.commands.validate.validate_files`."""

from __future__ import annotations

import json
import pathlib

import pytest

from conformance.commands.validate import validate_files
from tests.suite_runs import conformance

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "spec_examples"
EXAMPLES = sorted(str(p) for p in FIXTURES.iterdir() if p.suffix in {".xml", ".json", ".url"})
OK_JSON = json.loads((FIXTURES / "get-replace-token.ok.json").read_text(encoding="utf-8"))


def write(tmp_path: pathlib.Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def test_every_documented_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(EXAMPLES) == 7
    assert validate_files(EXAMPLES) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}: valid" for path in EXAMPLES]


def test_invalid_file_prints_file_path_message(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (FIXTURES / "get-replace-token.ok.xml").read_text(encoding="utf-8").replace("1266711372", "soon")
    path = write(tmp_path, "bad.xml", body)
    assert validate_files([path]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}: /response/valid_until: <valid_until> ")
    assert "'soon'" in line


def test_json_in_callback_wrapper_with_integers(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = {**OK_JSON, "replacetoken": {**OK_JSON["replacetoken"], "max_uploads": 1}}
    path = write(tmp_path, "bad.js", f"cb({json.dumps(obj)});")
    assert validate_files([path]) == 1
    out = capsys.readouterr().out
    assert f"{path}: $.replacetoken.max_uploads: max_uploads: 1 is not of type 'string'" in out
    assert f"{path}: valid" not in out


def test_warning_only_is_valid(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = '<response status="error" code="rate_limited" message="slow down" permission_level="write"/>'
    path = write(tmp_path, "warn.xml", body)
    assert validate_files([path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: /response/@code: warning: error code 'rate_limited'")
    assert lines[-1] == f"{path}: valid"


def test_mixed_files_exit_1_and_report_each(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(FIXTURES / "get-replace-token.ok.xml")
    bad = write(tmp_path, "html.txt", "<html><body>502</body></html>")
    assert validate_files([good, bad]) == 1
    out = capsys.readouterr().out
    assert f"{good}: valid" in out
    assert f"{bad}: /: body is an HTML page" in out


def test_xxe_file_is_invalid_and_leaks_nothing(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    body = f'<!DOCTYPE r [<!ENTITY e SYSTEM "{secret.as_uri()}">]><response status="ok">&e;</response>'
    path = write(tmp_path, "xxe.xml", body)
    assert validate_files([path]) == 1
    captured = capsys.readouterr()
    assert f"{path}: /: XML contains a DTD/entity declaration" in captured.out
    assert "TOP-SECRET-CONTENT" not in captured.out + captured.err


def test_callback_url_file_is_validated(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cb.url", "https://e.com/cb?domain=v.example.com&replace_token=abc&photo_id=1")
    assert validate_files([path]) == 1
    out = capsys.readouterr().out
    assert f"{path}: $.token: missing required member 'token'" in out
    assert f"{path}: $.tree_id: missing required member 'tree_id'" in out


def test_repeated_callback_parameter_is_flagged(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = (FIXTURES / "callback-error.url").read_text(encoding="utf-8").strip() + "&domain=other.example.com"
    path = write(tmp_path, "dup.url", url)
    assert validate_files([path]) == 1
    assert f"{path}: $.domain: domain: callback parameter given more than once" in capsys.readouterr().out


def test_unreadable_file_exits_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.xml")
    assert validate_files([missing]) == 2
    assert f"{missing}: cannot read:" in capsys.readouterr().err


def test_directory_is_unreadable(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_files([str(tmp_path)]) == 2
    assert f"{tmp_path}: cannot read:" in capsys.readouterr().err


def test_unreadable_wins_over_invalid_but_all_files_are_reported(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "empty.xml", b"")
    assert validate_files([str(tmp_path / "nope"), bad]) == 2
    assert f"{bad}: /: body is empty" in capsys.readouterr().out


def test_no_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_files([]) == 2
    assert "usage" in capsys.readouterr().err


def test_python_m_conformance_validate() -> None:
    result = conformance("validate", *EXAMPLES, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}: valid" for path in EXAMPLES]
