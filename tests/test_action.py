"""The composite GitHub Action at the repository root works as published.

It validates against the action schema check-jsonschema ships (offline), pins every third-party
action by commit, installs with constraints.txt, always uploads the reports; and its own shell
steps, run by bash as a runner would (``bash --noprofile --norc -eo pipefail``, the expressions
filled in, ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files), pass a conformant reference server,
fail a faulted one with the reports and the job summary written.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.reference.server import ReferenceServer, ReferenceSettings
from tests.suite_runs import write_config
from tests.test_report_examples import REPORTS, check_jsonschema

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
PINNED = re.compile(r"^\s*-?\s*uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*$")
RUNNER_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]  # GitHub's `shell: bash`
INSTALL_STEP = "install"  # pip from the network: checked by reading it, not run here


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def steps() -> list[dict[str, Any]]:
    return action()["runs"]["steps"]


def test_action_validates_against_the_published_schema() -> None:
    proc = check_jsonschema("vendor.github-actions", ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_rejects_a_broken_action(tmp_path: Path) -> None:
    data = action()
    data["runs"]["steps"][0]["shel"] = data["runs"]["steps"][0].pop("shell")  # a composite step needs shell
    (tmp_path / "action.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert check_jsonschema("vendor.github-actions", tmp_path / "action.yml").returncode == 1


def test_third_party_actions_are_pinned_by_commit_with_the_tag_in_a_comment() -> None:
    text = ACTION.read_text(encoding="utf-8").splitlines()
    lines = [line for line in text if re.match(r"^\s*-?\s*uses:", line)]
    assert len(lines) == len([s for s in steps() if "uses" in s]) >= 2
    for line in lines:
        assert PINNED.match(line), f"not pinned by a full commit SHA with its tag: {line.strip()}"


def test_install_is_pinned_and_reports_are_always_uploaded() -> None:
    (setup,) = [s for s in steps() if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["cache"] == "pip"
    (install,) = [s for s in steps() if s.get("id") == INSTALL_STEP]
    assert '-c "$ACTION_PATH/constraints.txt"' in install["run"]
    assert '"${SUITE:-$ACTION_PATH}"' in install["run"]  # default: the action's own commit
    (upload,) = [s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"].splitlines() == [f"${{{{ inputs.report-dir }}}}/{name}" for name in REPORTS]
    # no step may swallow the run's exit code
    assert not any("continue-on-error" in s for s in steps())


class Runner:
    """The action's shell steps as a GitHub runner runs them, expressions evaluated from a context."""

    def __init__(self, workdir: Path, inputs: dict[str, str]) -> None:
        declared = action()["inputs"]
        assert set(inputs) <= set(declared)
        self.inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs
        self.workdir = workdir
        self.outputs: dict[str, dict[str, str]] = {}
        self.summary = workdir / "step-summary.md"

    def value(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] == "inputs":
            return self.inputs[parts[1]]
        if expression == "github.action_path":
            return str(ROOT)
        if expression == "runner.temp":
            return str(self.workdir / "runner-temp")
        if parts[0] == "steps" and parts[2] == "outputs":
            return self.outputs[parts[1]][parts[3]]
        raise AssertionError(f"the test does not model the expression {expression!r}")

    def fill(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def run(self, step: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        assert step["shell"] == "bash"
        output = self.workdir / f"output-{step.get('id', 'step')}"
        output.write_text("", encoding="utf-8")
        env = {k: self.fill(str(v)) for k, v in (step.get("env") or {}).items()}
        bindir = str(Path(sys.executable).parent)  # this checkout's python and conformance
        env = {
            **os.environ,
            **env,
            "PATH": bindir + os.pathsep + os.environ["PATH"],
            "GITHUB_OUTPUT": str(output),
            "GITHUB_PATH": str(self.workdir / "github-path"),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }
        proc = subprocess.run(
            [*RUNNER_BASH, self.fill(step["run"])],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = output.read_text(encoding="utf-8").splitlines()
        self.outputs[step.get("id", "")] = dict(line.split("=", 1) for line in lines if "=" in line)
        return proc

    def run_all(self) -> subprocess.CompletedProcess[str]:
        """Every shell step but the install, in order; stops at the first that fails, as a job does."""
        last = None
        for step in steps():
            if "run" not in step or step.get("id") == INSTALL_STEP:
                continue
            last = self.run(step)
            if last.returncode != 0:
                break
        assert last is not None
        return last


@pytest.fixture
def runner_dir(tmp_path: Path) -> Path:
    (tmp_path / "runner-temp").mkdir()
    return tmp_path


def test_the_action_passes_a_conformant_server(runner_dir: Path) -> None:
    with ReferenceServer(ReferenceSettings()) as server:
        config = write_config(runner_dir / "target.toml", server)
        runner = Runner(runner_dir, {"config": str(config), "args": "--max-examples 2 --max-rps 0 --seed 3"})
        proc = runner.run_all()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert runner.outputs["run"] == {"exit-code": "0", "verdict": "CONFORMANT"}
    reports = runner_dir / runner.inputs["report-dir"]
    assert {p.name for p in reports.iterdir()} >= set(REPORTS)
    assert (runner_dir / ".conformance-action" / "constraints.txt").read_bytes() == (
        ROOT / "constraints.txt"
    ).read_bytes()
    summary = runner.summary.read_text(encoding="utf-8")
    assert summary.startswith("### Conformance: CONFORMANT")
    assert "`conformance-reports/report.html`" in summary and "`conformance-reports/junit.xml`" in summary


def test_the_action_fails_a_faulted_server_and_still_writes_reports(runner_dir: Path) -> None:
    settings = ReferenceSettings(faults=frozenset({"unsigned_gets_token"}))
    with ReferenceServer(settings) as server:
        config = write_config(runner_dir / "target.toml", server)
        extra = "--max-examples 2 --requirement AUTH-UNSIGNED-DENIED --har 'my run.har'"
        runner = Runner(runner_dir, {"config": str(config), "args": extra, "report-dir": "out/reports"})
        proc = runner.run_all()
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert runner.outputs["run"] == {"exit-code": "1", "verdict": "NOT CONFORMANT"}
    assert {p.name for p in (runner_dir / "out" / "reports").iterdir()} >= set(REPORTS)
    assert (runner_dir / "my run.har").is_file()  # the extra arguments were split as a shell would
    summary = runner.summary.read_text(encoding="utf-8")
    assert summary.startswith("### Conformance: NOT CONFORMANT")
    assert re.search(r"^\| `AUTH-UNSIGNED-DENIED` \| .+ \| `test_auth\.py::", summary, re.M)


def test_the_run_step_splits_arguments_without_evaluating_them(runner_dir: Path) -> None:
    """A `$(...)` in the extra arguments is a literal word, never run by the shell."""
    runner = Runner(runner_dir, {"args": "--report-dir '$(touch pwned)'", "config": "missing.toml"})
    (run,) = [s for s in steps() if s.get("id") == "run"]
    proc = runner.run(run)
    assert proc.returncode == 2 and not (runner_dir / "pwned").exists()
    assert runner.outputs["run"]["exit-code"] == "2"
    assert shlex.split(runner.inputs["args"])[1] == "$(touch pwned)"
