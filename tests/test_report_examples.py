"""The CI examples work: the staging config loads from env refs, and the workflows' own command
certifies a live reference server with it and leaves the files the workflows publish."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.config import SECRET_KEYS, load_config
from conformance.reference.server import Credentials, ReferenceServer, ReferenceSettings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENV_REF = re.compile(r'^[a-z_]+ = "env:([A-Z0-9_]+)"', re.M)  # assignments, not comments


def staging_env_names() -> list[str]:
    return ENV_REF.findall((EXAMPLES / "staging.toml").read_text(encoding="utf-8"))


def test_staging_config_takes_every_credential_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    names = staging_env_names()
    assert len(names) == 4
    for name in names:
        monkeypatch.setenv(name, f"value-of-{name}")
    config = load_config(EXAMPLES / "staging.toml")
    write = config.credentials["write"]
    assert {write.secret_sources[k] for k in SECRET_KEYS} <= {f"env:{n}" for n in names}
    assert config.destructive is False


def _yaml(name: str) -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def test_github_workflow_runs_the_suite_with_secrets_and_keeps_the_reports() -> None:
    text = (EXAMPLES / "github-actions.yml").read_text(encoding="utf-8")
    for name in staging_env_names():
        assert f"{name}: ${{{{ secrets.{name} }}}}" in text
    steps = _yaml("github-actions.yml")["jobs"]["certify-staging"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "conformance run --config examples/staging.toml" in runs
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/junit.xml"
    assert "always()" in uses["mikepenz/action-junit-report"]["if"]
    upload = next(s for s in steps if s.get("name", "").startswith("Keep report.html"))
    assert upload["with"]["path"] == "reports/" and upload["if"] == "always()"


def test_gitlab_job_runs_the_suite_and_keeps_the_reports() -> None:
    job = _yaml("gitlab-ci.yml")["conformance:staging"]
    assert any("conformance run --config examples/staging.toml" in line for line in job["script"])
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert "reports/report.html" in job["artifacts"]["paths"]


def test_the_workflow_command_certifies_a_live_server(tmp_path: Path) -> None:
    """The examples' exact command, against a reference server standing in for staging."""
    command = (
        next(
            line.strip()
            for line in (EXAMPLES / "gitlab-ci.yml").read_text().splitlines()
            if "conformance run" in line
        )
        .removeprefix("- ")
        .split("#")[0]
    )
    names = staging_env_names()
    env_values = {n: f"{n.lower()}-value-42" for n in names}
    creds = {
        level: Credentials(
            level=level,
            consumer_key=env_values["T23_STAGING_CONSUMER_KEY"] + level,
            consumer_secret=env_values["T23_STAGING_CONSUMER_SECRET"],
            access_token=env_values["T23_STAGING_ACCESS_TOKEN"] + level,
            access_token_secret=env_values["T23_STAGING_TOKEN_SECRET"],
        )
        for level in ("read", "write", "admin")
    }
    creds["write"] = Credentials(
        level="write",
        consumer_key=env_values["T23_STAGING_CONSUMER_KEY"],
        consumer_secret=env_values["T23_STAGING_CONSUMER_SECRET"],
        access_token=env_values["T23_STAGING_ACCESS_TOKEN"],
        access_token_secret=env_values["T23_STAGING_TOKEN_SECRET"],
    )
    with ReferenceServer(ReferenceSettings(credentials=creds)) as server:
        (tmp_path / "examples").mkdir()
        config = (EXAMPLES / "staging.toml").read_text(encoding="utf-8")
        config = config.replace('"https://staging.example.com"', f'"{server.base_url}"')
        (tmp_path / "examples" / "staging.toml").write_text(config, encoding="utf-8")
        argv = shlex.split(command)
        assert argv[:2] == ["conformance", "run"]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance",
                *argv[1:],
                "--max-examples",
                "2",
                "-k",
                "unsigned or write_level",
            ],
            cwd=tmp_path,
            env={**os.environ, **env_values},
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= {"junit.xml", "report.html", "results.json"}
    for value in (env_values["T23_STAGING_CONSUMER_SECRET"], env_values["T23_STAGING_TOKEN_SECRET"]):
        for path in (tmp_path / "reports").iterdir():
            assert value not in path.read_text(encoding="utf-8")
