"""CI-facing details: plain --help text, a job summary a hostile target cannot decorate, and a
preflight-stopped run that still tells CI why (results.json, junit.xml and the job summary)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from conformance.commands.cli import build_parser
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.report.markdown import append_step_summary, cell, code, run_summary
from tests.suite_runs import run_suite, write_config

RST_MARKUP = re.compile(r"``|:(class|func|meth|mod|data|attr):`")


def _all_help(parser: argparse.ArgumentParser) -> list[str]:
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                texts += _all_help(sub)
    return texts


def test_no_help_text_shows_restructuredtext_markup() -> None:
    texts = _all_help(build_parser())
    assert len(texts) > 10
    assert [t.splitlines()[0] for t in texts if RST_MARKUP.search(t)] == []
    assert "certify a server" in texts[0]


def test_target_text_cannot_add_links_images_or_html_to_the_job_page() -> None:
    hostile = "![x](https://evil.example/p.png) [click](https://evil.example) <img src=x> | `code` *b*\nnext"
    shown = cell(hostile)
    assert "\n" not in shown and "|" not in shown.replace("\\|", "")
    assert re.search(r"(?<!\\)[<>\[\]()`*|!_]", shown) is None  # every markup character escaped
    assert shown.startswith("\\!\\[x\\]\\(https://evil.example/p.png\\)")
    assert code("a`b") == "`` a`b ``" and code("plain") == "`plain`"
    assert len(cell("x" * 1000)) == 300


RESULTS = {
    "target": {"base_url": "https://staging.example.com"},
    "run": {"profile": "core", "seed": 3, "requests_sent": 12},
    "summary": {
        "verdict": "INCOMPLETE",
        "exit_code": 4,
        "must_failed": [],
        "unverified": [
            {"id": "AUTH-READ-DENIED", "reason": "no [credentials.read]", "cause": "skipped"},
            {"id": "AUTH-ADMIN-GRANTED", "reason": "no [credentials.admin]", "cause": "skipped"},
            {"id": "TIME-EXPIRY", "reason": "no [credentials.admin]", "cause": "skipped"},
        ],
        "accepted_unverified": [],
    },
    "requirements": [],
    "tests": [],
}


def test_summary_groups_unverified_musts_by_reason_and_names_the_reports(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    (tmp_path / "report.html").write_text("", encoding="utf-8")
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    assert append_step_summary(RESULTS, tmp_path, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### Conformance: INCOMPLETE")  # appended, never replaced
    assert "| `AUTH-ADMIN-GRANTED`, `TIME-EXPIRY` | no \\[credentials.admin\\] |" in text
    assert f"`{tmp_path.as_posix()}/report.html`, `{tmp_path.as_posix()}/results.json`" in text
    assert append_step_summary(RESULTS, tmp_path, {}) is None  # not on GitHub: nothing written
    assert run_summary(RESULTS, [])[-1] != "**Reports:** "


@pytest.mark.parametrize("photo", ["777"])
def test_a_preflight_stop_reaches_the_job_summary(tmp_path: Path, photo: str) -> None:
    with ReferenceServer(ReferenceSettings()) as server:
        cfg = write_config(tmp_path / "t.toml", server, photo_id=photo)
        summary = tmp_path / "summary.md"
        proc = run_suite(
            "--config",
            str(cfg),
            "--report-dir",
            str(tmp_path / "r"),
            env={"GITHUB_STEP_SUMMARY": str(summary)},
        )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### Conformance: STOPPED")
    assert f"**Stopped:** photo\\_id {photo} does not exist on the target" in text
    assert "report.html" not in text and "junit.xml`" in text and "results.json`" in text
