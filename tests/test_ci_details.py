"""CI-facing details: plain --help text, a job summary a hostile target cannot decorate, and a
preflight-stopped run that still tells CI why (results.json, junit.xml and the job summary)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.cli import build_parser
from conformance.config import ConfigError, load_config
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.report.markdown import append_step_summary, cell, code, run_summary
from conformance.report.reproduce import program
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


SCRIPT = Path(sys.executable).parent / "conformance"  # the console script this checkout installed


def test_replay_commands_name_the_program_the_user_ran(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # `conformance` is not on PATH
    monkeypatch.chdir(tmp_path)
    assert program(str(SCRIPT)) == str(SCRIPT)
    monkeypatch.chdir(SCRIPT.parent.parent)
    assert program(str(SCRIPT)) == f"{SCRIPT.parent.name}/conformance"  # as README's .venv/bin/conformance
    monkeypatch.setenv("PATH", str(SCRIPT.parent))  # on PATH and the same program: the plain word
    assert program(str(SCRIPT)) == "conformance"
    assert program("/usr/lib/python3/site-packages/pytest/__main__.py") == "conformance"


def test_a_run_by_path_prints_replay_commands_that_work_as_pasted(tmp_path: Path) -> None:
    """README's quick start runs .venv/bin/conformance without activating the venv."""
    with ReferenceServer(ReferenceSettings(faults=frozenset({"unsigned_gets_token"}))) as server:
        write_config(tmp_path / "t.toml", server)
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(SCRIPT.parent))
        proc = subprocess.run(
            [str(SCRIPT), "run", "--config", "t.toml", "--requirement", "AUTH-UNSIGNED-DENIED",
             "--max-examples", "2", "--report-dir", str(tmp_path / "r")],
            cwd=tmp_path, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = [line.strip() for line in proc.stdout.splitlines() if " replay --config" in line]
    argv = shlex.split(line)
    assert argv[:4] == [str(SCRIPT), "replay", "--config", "t.toml"]
    with ReferenceServer(ReferenceSettings(faults=frozenset({"unsigned_gets_token"}))) as server:
        write_config(tmp_path / "t.toml", server)
        again = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.returncode in (0, 1) and "replace_token" in again.stdout  # it ran: a 127 would not


@pytest.mark.parametrize(("value", "said"), [(None, "is not set"), ("", "is empty")])
def test_an_env_secret_that_is_empty_is_not_called_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, said: str
) -> None:
    """A GitHub secret missing from the job's scope expands to an empty variable, not a missing one."""
    if value is None:
        monkeypatch.delenv("T23_CI_DETAILS_SECRET", raising=False)
    else:
        monkeypatch.setenv("T23_CI_DETAILS_SECRET", value)
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        'base_url = "http://127.0.0.1:9"\nphoto_id = "1"\n[credentials.write]\nconsumer_key = "k"\n'
        'consumer_secret = "env:T23_CI_DETAILS_SECRET"\naccess_token = "t"\naccess_token_secret = "s"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    assert str(caught.value) == (
        f"credentials.write.consumer_secret: environment variable T23_CI_DETAILS_SECRET {said}"
    )


def test_https_against_a_plain_http_port_says_so(tmp_path: Path) -> None:
    with ReferenceServer(ReferenceSettings()) as server:
        cfg = write_config(
            tmp_path / "t.toml", server, base_url=server.base_url.replace("http://", "https://")
        )
        proc = run_suite("--config", str(cfg), "--report-dir", str(tmp_path / "r"), "--quiet")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    where = server.base_url.removeprefix("http://")
    assert (
        f"{where} does not speak TLS: base_url says https:// but the port answered like plain HTTP "
        f"(use http://{where} if the target has no TLS)"
    ) in proc.stdout.splitlines()[-1]
