"""``conformance report diff``: verdict changes between two runs; exit 1 only for a MUST regression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.commands.cli import main
from conformance.report.diff import diff_results
from tests.results_docs import results_doc


def results(verdicts: dict[str, str], levels: dict[str, str] | None = None) -> dict[str, Any]:
    return results_doc(verdicts, levels)


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / name / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("new", ["fail", "error"])
def test_must_pass_to_failure_is_a_regression_exit_1(
    tmp_path: Path, new: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old", results({"A-ONE": "pass", "A-TWO": "pass"}))
    cur = write(tmp_path, "new", results({"A-ONE": new, "A-TWO": "pass"}))
    assert main(["report", "diff", old, cur]) == 1
    out = capsys.readouterr().out
    assert "A-ONE" in out and "REGRESSION" in out and "MUST regressions: A-ONE" in out
    assert "A-TWO" not in out.split("\n\n", 1)[1]  # unchanged requirements are not listed


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("fail", "pass", "fixed"),
        ("pass", "skip", "unverified"),
        ("pass", "untested", "unverified"),
        ("pass", "not-run", "unverified"),
        ("pass", "blocked", "unverified"),
        ("fail", "error", "changed"),
    ],
)
def test_other_changes_are_listed_but_pass_the_gate(
    tmp_path: Path, old: str, new: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path, "old", results({"A-ONE": old}))
    b = write(tmp_path, "new", results({"A-ONE": new}))
    assert main(["report", "diff", a, b]) == 0
    out = capsys.readouterr().out
    assert kind in out and "no MUST regressed" in out
    if kind == "unverified":  # a run that did not look is no evidence of a regression
        assert "not verified by the new run (not regressions): A-ONE" in out


def test_should_regression_is_reported_as_a_warning_not_a_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path, "old", results({"S-ONE": "pass"}, {"S-ONE": "SHOULD"}))
    b = write(tmp_path, "new", results({"S-ONE": "fail"}, {"S-ONE": "SHOULD"}))
    assert main(["report", "diff", a, b]) == 0
    assert "WARN" in capsys.readouterr().out


def test_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "old", results({"A-ONE": "pass"}))
    assert main(["report", "diff", a, a]) == 0
    assert "no requirement changed verdict" in capsys.readouterr().out


def test_added_and_removed_requirements() -> None:
    changes = diff_results(
        results({"A-OLD": "pass", "A-KEEP": "pass"}), results({"A-KEEP": "pass", "A-NEW": "fail"})
    )
    assert [(c.id, c.kind) for c in changes] == [("A-NEW", "added"), ("A-OLD", "removed")]
    assert not any(c.regression for c in changes)


def test_unreadable_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "old", results({"A-ONE": "pass"}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["report", "diff", good, str(bad)]) == 2
    assert main(["report", "diff", good, str(tmp_path / "missing.json")]) == 2
    (tmp_path / "other.json").write_text("[]", encoding="utf-8")
    assert main(["report", "diff", good, str(tmp_path / "other.json")]) == 2
    assert "conformance report diff:" in capsys.readouterr().err


def test_report_needs_a_subcommand() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("old", "kind"), [("not-in-profile", "now in profile"), ("untested", "now verified")]
)
def test_first_verified_pass_is_not_a_fix(old: str, kind: str) -> None:
    (change,) = diff_results(results({"A-ONE": old}), results({"A-ONE": "pass"}))
    assert change.kind == kind and not change.regression


def _targeted(data: dict[str, Any], base_url: str, profile: str = "core") -> dict[str, Any]:
    data["target"]["base_url"], data["run"]["profile"] = base_url, profile
    return data


def test_markdown_is_a_table_a_pr_comment_can_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path, "old", _targeted(results({"A-ONE": "pass", "A-TWO": "pass"}), "https://a.example"))
    b = write(
        tmp_path,
        "new",
        _targeted(results({"A-ONE": "fail", "A-TWO": "skip"}), "https://b.example", "full"),
    )
    assert main(["report", "diff", a, b, "--format", "markdown"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("### ") and "**1 MUST regression**: `A-ONE`" in lines
    notes = [line for line in lines if line.startswith("> ")]
    assert any("different base URLs: https://a.example and https://b.example" in n for n in notes)
    assert any("different profiles: core and full" in n for n in notes)
    header = lines.index("| requirement | level | old | new | change |")
    assert lines[header + 1] == "|---|---|---|---|---|"
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in lines[header + 2 :]
        if line.startswith("| `")
    ]
    assert rows == [
        ["`A-ONE`", "MUST", "PASS", "FAIL", "**REGRESSION**"],
        ["`A-TWO`", "MUST", "PASS", "SKIP", "unverified"],
    ]
    assert "Not verified by the new run (not regressions): `A-TWO`" in lines


def test_json_output_parses_and_carries_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "old", _targeted(results({"A-ONE": "fail", "A-TWO": "not-in-profile"}), "https://x"))
    b = write(tmp_path, "new", _targeted(results({"A-ONE": "pass", "A-TWO": "pass"}), "https://x"))
    assert main(["report", "diff", a, b, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["notes"] == [] and data["regressions"] == [] and data["exit_code"] == 0
    assert [(c["id"], c["kind"]) for c in data["changes"]] == [
        ("A-ONE", "fixed"),
        ("A-TWO", "now in profile"),
    ]
    assert data["old"]["base_url"] == data["new"]["base_url"] == "https://x"


def test_text_names_a_different_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "old", _targeted(results({"A-ONE": "pass"}), "https://a.example"))
    b = write(tmp_path, "new", _targeted(results({"A-ONE": "pass"}), "https://b.example"))
    assert main(["report", "diff", a, b]) == 0
    assert "note: the two runs targeted different base URLs" in capsys.readouterr().out


def test_the_catalog_decides_levels_and_strangers_text_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file calling a catalog MUST a SHOULD does not hide its regression; control characters are shown."""
    relabelled = {"AUTH-UNSIGNED-DENIED": "SHOULD"}
    a = write(tmp_path, "old", results({"AUTH-UNSIGNED-DENIED": "pass"}, relabelled))
    new = results({"AUTH-UNSIGNED-DENIED": "fail"}, relabelled)
    new["target"]["base_url"] = "https://x.example/\x1b[2J\rno MUST regressed"
    b = write(tmp_path, "new", new)
    assert main(["report", "diff", a, b]) == 1
    out = capsys.readouterr().out
    assert "MUST regressions: AUTH-UNSIGNED-DENIED" in out
    assert "\x1b" not in out and "\r" not in out and "\\x1b[2J\\rno MUST regressed" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ("[]", "[] is not of type 'object'"),
        ('{"format": 1, "summary": []}', "not a results document this suite reads"),
    ],
)
def test_malformed_files_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    good = write(tmp_path, "old", results({"A-ONE": "pass"}))
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["report", "diff", good, str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
