"""The CI examples work as copied into another repository.

Three layers: every example validates against its CI system's published JSON Schema; the YAML has
the properties a copy needs (runs after the deploy, installs the suite from a pinned reference,
gates on the verdict and on ``report diff``, keeps the reports and publishes JUnit even on failure,
takes secrets only from the CI's secret store); and the GitLab job's own script, run by bash
against live reference servers, passes a conformant one, fails a faulted one and keeps the baseline
of the last good run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from conformance.config import SECRET_KEYS, load_config
from conformance.reference.server import Credentials, ReferenceServer, ReferenceSettings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENV_REF = re.compile(r'^[a-z_]+ = "env:([A-Z0-9_]+)"', re.M)  # assignments, not comments
PACKAGE = "twentythree-replace-token-conformance"
GITHUB = ("github-actions.yml", "github-actions-matrix.yml")
# file -> its certify job
GITLAB = {"gitlab-ci.yml": "conformance:staging", "gitlab-ci-matrix.yml": "conformance:targets"}
# a third-party action pinned by full commit SHA, its release tag in the comment after it
ACTION_PIN = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*\b")
CONSTRAINTS = "ci/conformance/constraints.txt"  # the suite's constraints.txt, copied next to the configs
REPORTS = ("report.html", "junit.xml", "results.json")


def staging_env_names() -> list[str]:
    return ENV_REF.findall((EXAMPLES / "staging.toml").read_text(encoding="utf-8"))


def load(name: str) -> Any:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def test_staging_config_takes_every_credential_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    names = staging_env_names()
    assert len(names) == 4
    for name in names:
        monkeypatch.setenv(name, f"value-of-{name}")
    config = load_config(EXAMPLES / "staging.toml")
    write = config.credentials["write"]
    assert {write.secret_sources[k] for k in SECRET_KEYS} <= {f"env:{n}" for n in names}
    assert config.destructive is False


# -- the CI systems' published schemas ---------------------------------------------------------------


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with a schema it ships (vendored copies of SchemaStore's GitHub workflow
    schema and GitLab's own ci.json), so no download happens; the proxy variables point at a closed
    port to prove it: any attempt to reach the network would fail the call."""
    closed = "http://127.0.0.1:9"
    offline = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy")}
    offline |= {name: closed for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        env=offline,
        timeout=120,
    )


SCHEMAS = [(name, "vendor.github-workflows") for name in GITHUB] + [(n, "vendor.gitlab-ci") for n in GITLAB]


def test_every_ci_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yml")) == sorted(n for n, _ in SCHEMAS)


@pytest.mark.parametrize(("name", "schema"), SCHEMAS)
def test_example_validates_against_the_ci_schema(name: str, schema: str) -> None:
    proc = check_jsonschema(schema, EXAMPLES / name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("name", "schema"), SCHEMAS)
def test_the_schema_check_rejects_a_broken_copy(name: str, schema: str, tmp_path: Path) -> None:
    """The validation can fail: the same file with a misspelt job key is refused."""
    data = load(name)
    job = data["jobs"]["conformance"] if name in GITHUB else data[GITLAB[name]]
    job["runs_on" if name in GITHUB else "scirpt"] = job.pop("runs-on" if name in GITHUB else "script")
    (tmp_path / name).write_text(yaml.safe_dump(data), encoding="utf-8")
    assert check_jsonschema(schema, tmp_path / name).returncode == 1


# -- what a copy needs -------------------------------------------------------------------------------


def assert_pinned_suite(spec: str) -> None:
    """A PEP 508 direct reference to the suite at a commit of this repository (it has no release
    tags: a copy naming one would fail to install) -- never ``pip install .``, which only works
    inside this repository -- or a wheel file."""
    if spec.endswith(".whl"):
        return
    req = Requirement(spec)
    assert req.name == PACKAGE and req.url is not None
    assert req.url.startswith("git+https://"), req.url
    ref = req.url.rsplit("@", 1)[1]
    tags = subprocess.run(["git", "-C", str(ROOT), "tag", "--list"], capture_output=True, text=True).stdout
    assert re.fullmatch(r"[0-9a-f]{40}", ref) or ref in tags.split(), (
        f"not a commit or a tag of the suite: {ref}"
    )
    if (ROOT / ".git").exists() and re.fullmatch(r"[0-9a-f]{40}", ref):
        known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{ref}^{{commit}}"], check=False)
        assert known.returncode == 0, f"{ref} is no commit of this repository"


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def certify_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if "conformance run" in s.get("run", "")]
    return step


def words(command: str) -> list[str]:
    """A command's words, a GitHub expression such as ``${{ matrix.target }}`` kept in one word."""
    return shlex.split(re.sub(r"\$\{\{ *([^}]*?) *\}\}", r"${{\1}}", command))


def option(command: str, name: str) -> str:
    argv = words(command)
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize("name", GITHUB)
def test_github_job_runs_after_the_deploy_from_a_pinned_suite(name: str) -> None:
    workflow = load(name)
    job = workflow["jobs"]["conformance"]
    assert job["needs"] == "deploy" and "deploy" in workflow["jobs"]
    assert_pinned_suite(workflow["env"]["CONFORMANCE_SUITE"])
    (install,) = [s for s in job["steps"] if "pip install" in s.get("run", "")]
    assert install["run"].endswith(
        f'pip install --disable-pip-version-check -c {CONSTRAINTS} "$CONFORMANCE_SUITE"'
    )
    for w in workflow["jobs"].values():  # pip's cache keyed on the pinned versions, in every job
        for setup in uses(w, "actions/setup-python"):
            assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == CONSTRAINTS
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert "pip install ." not in text and text.count("YOUR-GIT-HOST") == 1  # the one line to edit
    lines = [line for line in text.splitlines() if re.match(r"^\s*-?\s*uses:", line)]
    assert len(lines) == sum("uses" in step for w in workflow["jobs"].values() for step in w["steps"])
    for line in lines:
        assert ACTION_PIN.match(line), f"not pinned by commit SHA with its tag: {line.strip()}"


@pytest.mark.parametrize("name", GITHUB)
def test_github_job_gates_on_verdict_and_diff_and_always_keeps_the_reports(name: str) -> None:
    job = load(name)["jobs"]["conformance"]
    steps = job["steps"]
    certify = certify_step(job)
    assert "continue-on-error" not in certify  # its exit code fails the job: anything but 0
    reports = option(certify["run"], "--report-dir")
    (baseline,) = uses(job, "dawidd6/action-download-artifact")
    assert steps.index(baseline) < steps.index(certify) and baseline["with"]["path"] == "baseline"
    (gate,) = [s for s in steps if "conformance report diff" in s.get("run", "")]
    assert words(gate["run"])[-2:] == ["baseline/results.json", f"{reports}/results.json"]
    assert gate["if"].startswith("always()") and "continue-on-error" not in gate
    (junit,) = uses(job, "mikepenz/action-junit-report")
    assert words(junit["with"]["report_paths"]) == [f"{reports}/junit.xml"]
    assert junit["if"].startswith("always()")
    uploads = uses(job, "actions/upload-artifact")
    (kept,) = [u for u in uploads if u["if"] == "always()"]
    assert words(kept["with"]["path"]) == [f"{reports}/{f}" for f in REPORTS]
    (remembered,) = [u for u in uploads if u["if"] == "success()"]
    assert words(remembered["with"]["path"]) == [f"{reports}/results.json"]
    assert remembered["with"]["name"] == baseline["with"]["name"]


@pytest.mark.parametrize("name", GITHUB)
def test_github_secrets_come_from_the_secret_store_into_the_certify_step_only(name: str) -> None:
    workflow = load(name)
    names = staging_env_names()
    certify = certify_step(workflow["jobs"]["conformance"])
    for job in workflow["jobs"].values():
        assert "env" not in job
        for step in job["steps"]:
            env = step.get("env", {})
            if step is certify:
                assert sorted(env) == sorted(names)
                assert all(
                    re.fullmatch(r"\$\{\{ secrets(\.\w+|\[format\(.+\)\]) \}\}", v) for v in env.values()
                )
            else:
                assert not env and "secrets" not in str(step)
    assert "secrets" not in str(workflow["env"])


def test_github_matrix_certifies_each_target_apart_and_merges_them() -> None:
    workflow = load("github-actions-matrix.yml")
    job = workflow["jobs"]["conformance"]
    targets = [entry["target"] for entry in job["strategy"]["matrix"]["include"]]
    assert len(targets) >= 2 and job["strategy"]["fail-fast"] is False
    certify = certify_step(job)
    assert option(certify["run"], "--config") == "ci/conformance/${{matrix.target}}.toml"
    assert option(certify["run"], "--report-dir") == "reports/${{matrix.target}}"
    for step in uses(job, "actions/upload-artifact") + uses(job, "dawidd6/action-download-artifact"):
        assert step["with"]["name"].endswith("-${{ matrix.target }}")  # one report and baseline each
    final = workflow["jobs"]["conformance-matrix"]
    assert final["needs"] == "conformance" and final["if"] == "always()"
    (download,) = uses(final, "actions/download-artifact")
    (kept,) = [u for u in uses(job, "actions/upload-artifact") if u["if"] == "always()"]
    assert download["with"]["pattern"] == kept["with"]["name"].replace("${{ matrix.target }}", "*")
    (merge,) = [s for s in final["steps"] if "conformance matrix" in s.get("run", "")]
    argv = words(merge["run"])
    assert argv[2] == f"{download['with']['path']}/*/results.json"
    (upload,) = uses(final, "actions/upload-artifact")
    assert upload["if"] == "always()"  # with the reports the matrix cells link to
    assert words(upload["with"]["path"]) == [
        option(merge["run"], "--report-dir") + "/",
        download["with"]["path"] + "/",
    ]


GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
GITLAB_KEYWORDS |= {"before_script", "after_script"}  # top-level keys that would change the includer


def gitlab_job(name: str = "gitlab-ci.yml") -> dict[str, Any]:
    """The certify job with its ``extends:`` template merged in, as GitLab sees it."""
    data = load(name)
    job = dict(data[GITLAB[name]])
    if "extends" in job:
        template = data[job.pop("extends")]
        job = {**template, **job, "variables": {**template.get("variables", {}), **job.get("variables", {})}}
    return job


@pytest.mark.parametrize("name", GITLAB)
def test_gitlab_include_runs_after_the_deploy_and_leaves_the_pipeline_alone(name: str) -> None:
    data = load(name)
    assert not set(data) & GITLAB_KEYWORDS  # no stages: overriding the including pipeline's
    assert all(key.startswith(".") or ":" in key for key in data)  # jobs and hidden templates only
    job = gitlab_job(name)
    assert job["needs"] and all(isinstance(n, str) for n in job["needs"])  # not needs: [] (at once)
    assert job["stage"] in ("build", "test", "deploy")  # GitLab's default stages: exists unless renamed
    assert not job["image"].endswith("-slim")  # pip needs git for a git+https install
    assert_pinned_suite(job["variables"]["CONFORMANCE_SUITE"])
    assert job["before_script"] == [f'python -m pip install -c {CONSTRAINTS} "$CONFORMANCE_SUITE"']
    assert job["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"  # GitLab caches only there
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert "pip install ." not in text and text.count("YOUR-GIT-HOST") == 1
    assert not set(job["variables"]) & set(staging_env_names())  # secrets stay in CI/CD settings


@pytest.mark.parametrize("name", GITLAB)
def test_gitlab_job_always_keeps_the_reports_and_caches_only_a_good_baseline(name: str) -> None:
    job = gitlab_job(name)
    reports = job["variables"]["REPORTS"]
    script = job["script"]
    assert any('--report-dir "$REPORTS"' in line and line.endswith("|| verdict=$?") for line in script)
    # the diff's status is kept and ends the job like the verdict's (the live test sees the verdict;
    # a MUST regression is always also a MUST failure today, so only this reading shows the diff gate)
    assert any("conformance report diff" in line and "|| regression=$?" in line for line in script)
    gates = [
        'if [ "$verdict" -ne 0 ]; then exit "$verdict"; fi',
        'if [ "$regression" -ne 0 ]; then exit "$regression"; fi',
    ]
    assert [line for line in script if line in gates] == gates
    assert script[-1].startswith("mkdir -p .conformance-baseline")  # the baseline moves only past both gates
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["paths"] == [f"{reports}/{f}" for f in REPORTS]
    assert artifacts["reports"]["junit"] == f"{reports}/junit.xml"
    baseline, pip = job["cache"]
    assert baseline["when"] == "on_success" and baseline["paths"] == [".conformance-baseline/"]
    assert pip["key"] == {"files": [CONSTRAINTS]} and pip["paths"] == [".cache/pip/"]


def test_gitlab_matrix_certifies_each_target_apart_and_merges_them() -> None:
    job = gitlab_job("gitlab-ci-matrix.yml")
    (axis,) = job["parallel"]["matrix"]
    assert len(axis["TARGET"]) >= 2
    assert job["environment"] == {"name": "$TARGET", "action": "verify"}  # per-target scoped secrets
    assert job["variables"]["CONFORMANCE_CONFIG"] == "ci/conformance/$TARGET.toml"
    assert job["variables"]["REPORTS"] == "reports/$TARGET" and job["cache"][0]["key"].endswith("-$TARGET")
    # the same script as the single-target job (which the live test below runs)
    assert job["script"] == gitlab_job()["script"]
    merge = load("gitlab-ci-matrix.yml")["conformance:matrix"]
    assert merge["needs"] == [GITLAB["gitlab-ci-matrix.yml"]] and merge["when"] == "always"
    (command,) = merge["script"]
    argv = shlex.split(command)
    assert argv[:3] == ["conformance", "matrix", "reports/*/results.json"]
    assert merge["artifacts"]["when"] == "always"
    assert merge["artifacts"]["paths"] == [option(command, "--report-dir") + "/", "reports/"]


# -- the GitLab job's script, run --------------------------------------------------------------------


def credentials(values: dict[str, str]) -> dict[str, Credentials]:
    """Reference-server accounts whose write level uses the values the CI would export."""
    creds = {
        level: Credentials(
            level=level,
            consumer_key=f"{level}-key",
            consumer_secret=f"{level}-secret",
            access_token=f"{level}-token",
            access_token_secret=f"{level}-token-secret",
        )
        for level in ("read", "admin")
    }
    creds["write"] = Credentials(
        level="write",
        consumer_key=values["T23_STAGING_CONSUMER_KEY"],
        consumer_secret=values["T23_STAGING_CONSUMER_SECRET"],
        access_token=values["T23_STAGING_ACCESS_TOKEN"],
        access_token_secret=values["T23_STAGING_TOKEN_SECRET"],
    )
    return creds


def run_gitlab_job(workdir: Path, base_url: str, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The job as a runner would: a fresh workspace (the checkout plus the restored cache), the job's
    variables and the CI/CD secret variables exported, its script in one bash with errexit. The
    before_script (the pip install) is left out: this test runs the suite installed from this checkout."""
    job = gitlab_job()
    shutil.rmtree(workdir / "reports", ignore_errors=True)
    config = (EXAMPLES / "staging.toml").read_text(encoding="utf-8")
    config_path = workdir / job["variables"]["CONFORMANCE_CONFIG"]
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.replace('"https://staging.example.com"', f'"{base_url}"'), encoding="utf-8")
    variables = {k: str(v) for k, v in job["variables"].items()}
    # fewer Hypothesis draws and no politeness cap on loopback: the same tests, sooner
    variables["CONFORMANCE_OPTIONS"] += " --max-examples 2 --max-rps 0"
    bindir = str(Path(sys.executable).parent)  # the `conformance` this checkout installed
    env = {**os.environ, **variables, **secrets, "PATH": bindir + os.pathsep + os.environ["PATH"]}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(job["script"])],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_gitlab_job_passes_a_conformant_server_and_fails_a_regression(tmp_path: Path) -> None:
    """First deploy: conformant, no baseline yet -> exit 0, reports kept, results cached as the
    baseline. Next deploy breaks a MUST -> the job exits 1 with the regression printed, the reports
    are still written (the artifacts are uploaded `when: always`) and the baseline stays the good run."""
    secrets = {n: f"{n.lower()}-value-42" for n in staging_env_names()}
    baseline = tmp_path / ".conformance-baseline" / "results.json"

    with ReferenceServer(ReferenceSettings(credentials=credentials(secrets))) as server:
        good = run_gitlab_job(tmp_path, server.base_url, secrets)
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert "no baseline yet" in good.stdout
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= set(REPORTS)
    assert baseline.read_bytes() == (tmp_path / "reports" / "results.json").read_bytes()
    good_results = baseline.read_bytes()
    # staging.toml accepts exactly the MUSTs its write-only credentials leave unverified
    summary = json.loads(good_results)["summary"]
    accepted = tomllib.loads((EXAMPLES / "staging.toml").read_text())["verdict"]["accept_unverified"]
    assert sorted(g["id"] for g in summary["accepted_unverified"]) == sorted(accepted)

    faulty = ReferenceSettings(credentials=credentials(secrets), faults=frozenset({"unsigned_gets_token"}))
    with ReferenceServer(faulty) as server:
        bad = run_gitlab_job(tmp_path, server.base_url, secrets)
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
    # the diff ran against the cached baseline and named the MUST that regressed
    assert re.search(r"(?i)regression.*AUTH-UNSIGNED-DENIED|AUTH-UNSIGNED-DENIED.*regression", bad.stdout)
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= set(REPORTS)
    assert baseline.read_bytes() == good_results

    for value in (secrets["T23_STAGING_CONSUMER_SECRET"], secrets["T23_STAGING_TOKEN_SECRET"]):
        assert value not in good.stdout + good.stderr + bad.stdout + bad.stderr
        for path in (tmp_path / "reports").iterdir():
            assert value not in path.read_text(encoding="utf-8")


def test_the_github_jobs_run_the_command_the_gitlab_test_runs() -> None:
    """The GitHub certify step is the GitLab command with the variables filled in, so the live test
    above covers it too."""
    variables = gitlab_job()["variables"]
    (line,) = [line for line in gitlab_job()["script"] if line.startswith("conformance run")]
    expanded = line.split(" || ")[0]
    for name, value in variables.items():
        expanded = expanded.replace(f'"${name}"', value).replace(f"${name}", value)
    certify = certify_step(load("github-actions.yml")["jobs"]["conformance"])
    assert shlex.split(certify["run"]) == shlex.split(expanded)
