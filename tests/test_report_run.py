"""End to end: real runs write results.json, junit.xml and report.html; nothing secret leaks; the
reproduction in the report works; and the report renders in a real (headless) browser.

One deliberately broken target serves the module: a reference server that *rejects* out-of-range
values while the config declares ``bounds_policy = "clamp"``, so PARAMS-OUT-OF-RANGE fails. Its
credentials are distinctive strings given to the suite as ``env:NAME``, and a WSGI wrapper records
every OAuth signature the server received, so the leak check looks for the real values.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import jsonschema
import pytest

from conformance.model.credentials import Credentials
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.report.html import render_html
from tests import suite_runs
from tests.clean_run import CleanRun, venv_env
from tests.test_report_html import StrictHTML, hostile_results, parse

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ("read", "write", "admin")
SECRETS = {level: (f"ConsumerSecretXq7{level}Zz91", f"TokenSecretWv3{level}Kk27") for level in LEVELS}
SECRET_ENV = {
    f"T23_{kind}_{level.upper()}": SECRETS[level][i]
    for level in LEVELS
    for i, kind in enumerate(("CONSUMER", "TOKEN"))
}
FAILING = "PARAMS-OUT-OF-RANGE"
SEED = "20240601"
_UNREDACTED = re.compile(r'oauth_signature(=|%3D)(\\?")?[^<"&\s,\\]')


class SignatureRecorder:
    """WSGI middleware: remembers every oauth_signature the server was sent (header, query, body)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.signatures: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = BytesIO(body)
        sources = [environ.get("QUERY_STRING", ""), body.decode("latin-1")]
        for source in sources:
            self.signatures.update(v for k, v in parse_qsl(source) if k == "oauth_signature")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        self.signatures.update(unquote(m) for m in re.findall(r'oauth_signature="([^"]*)"', auth))
        return self.app(environ, start_response)


Run = CleanRun  # a run of the command in a directory: where, its reports, the process, its environment
subprocess_env = venv_env


def conformance(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return suite_runs.conformance(*args, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def broken_server() -> Iterator[tuple[ReferenceServer, SignatureRecorder]]:
    creds = {
        level: Credentials(
            level=level,
            consumer_key=f"{level}-key-report-test",
            consumer_secret=SECRETS[level][0],
            access_token=f"{level}-token-report-test",
            access_token_secret=SECRETS[level][1],
        )
        for level in LEVELS
    }
    with ReferenceServer(ReferenceSettings(bounds_policy="reject", credentials=creds)) as server:
        wsgi = server._server
        assert wsgi is not None
        recorder = SignatureRecorder(wsgi.app)
        wsgi.app = recorder
        yield server, recorder


@pytest.fixture(scope="module")
def broken_run(
    broken_server: tuple[ReferenceServer, SignatureRecorder], tmp_path_factory: pytest.TempPathFactory
) -> Run:
    server, _ = broken_server
    cwd = tmp_path_factory.mktemp("broken")
    lines = [
        f'base_url = "{server.base_url}"',
        'photo_id = "123456"',
        'unknown_photo_id = "999999999"',
        'bounds_policy = "clamp"',
    ]
    for level in LEVELS:
        lines += [
            f"[credentials.{level}]",
            f'consumer_key = "{level}-key-report-test"',
            f'consumer_secret = "env:T23_CONSUMER_{level.upper()}"',
            f'access_token = "{level}-token-report-test"',
            f'access_token_secret = "env:T23_TOKEN_{level.upper()}"',
        ]
    (cwd / "target.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = subprocess_env(SECRET_ENV)
    # The whole suite (few examples): every signing placement, tampering and error path gets exercised.
    proc = conformance(
        "run",
        "--config",
        "target.toml",
        "--report-dir",
        "report",
        "--max-examples",
        "3",
        "--seed",
        SEED,
        cwd=cwd,
        env=env,
    )
    return Run(cwd, cwd / "report", proc, env)


@pytest.fixture(scope="module")
def embedded_run(clean_run: CleanRun) -> Run:
    """The session's clean run of the whole core suite (a -k selection would leave MUSTs unverified)."""
    return Run(clean_run.cwd, clean_run.report, clean_run.proc, clean_run.env)


def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "results.schema.json").read_text()))


# ------------------------------------------------------------------ files and their contents
def test_broken_target_fails_and_writes_all_three_files(broken_run: Run) -> None:
    assert broken_run.proc.returncode == 1, broken_run.proc.stderr[-3000:]
    assert sorted(p.name for p in broken_run.report.iterdir()) == ["junit.xml", "report.html", "results.json"]
    results = broken_run.results()
    assert results["summary"]["verdict"] == "NOT CONFORMANT"
    assert FAILING in results["summary"]["must_not_passed"]


def test_embedded_reference_passes_and_writes_all_three_files(embedded_run: Run) -> None:
    assert embedded_run.proc.returncode == 0, (
        embedded_run.proc.stdout[-3000:] + embedded_run.proc.stderr[-3000:]
    )
    assert sorted(p.name for p in embedded_run.report.iterdir()) == [
        "junit.xml",
        "report.html",
        "results.json",
    ]
    summary = embedded_run.results()["summary"]
    assert summary["verdict"] == "CONFORMANT" and summary["unverified"] == []
    page = parse(embedded_run.html())
    assert page.errors == []
    assert "CONFORMANT" in "".join(page.text)


def test_real_results_validate_against_the_schema(broken_run: Run, embedded_run: Run) -> None:
    validator = schema_validator()
    for run in (broken_run, embedded_run):
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(run.results())]
        assert errors == []


def test_junit_has_one_testcase_per_test_with_its_requirement_ids(broken_run: Run) -> None:
    results = broken_run.results()
    expected = {r["nodeid"]: ",".join(r["requirements"]) for r in results["tests"]}
    root = ET.parse(broken_run.report / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == len(expected)
    seen = {}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert "requirements" in props, ET.tostring(case)[:300]
        shown = re.fullmatch(r"\[([A-Z0-9, -]+)\] (.+)", case.get("name", ""))
        assert shown, case.get("name")  # CI views show the requirement IDs in the test name
        assert shown.group(1).replace(", ", ",") == props["requirements"]
        nodeid = f"{case.get('classname', '').replace('.', '/')}.py::{shown.group(2)}"
        seen[nodeid] = props["requirements"]
        if props["requirements"] == FAILING:
            assert case.find("failure") is not None
    assert seen == expected


def test_html_shows_the_failing_requirement_with_evidence(broken_run: Run) -> None:
    text = broken_run.html()
    page = parse(text)
    assert page.errors == []
    body = " ".join("".join(page.text).split())
    assert "NOT CONFORMANT" in body and FAILING in body
    assert "was rejected, but bounds_policy is 'clamp'" in body  # the finding
    assert "invalid_input" in body and "HTTP 200" in body  # the raw response
    assert "Hypothesis: the falsifying example (shrunk)" in body
    assert f"--seed {SEED}" in body
    assert "conformance replay --config target.toml" in "".join(page.pre_text["repro"])


def test_console_prints_the_first_finding_and_its_reproduction(broken_run: Run) -> None:
    out = broken_run.proc.stdout
    assert "MUST failed (1):" in out
    tail = out[out.index("MUST failed (1):") :]
    assert f"{FAILING}: " in tail and "conformance replay --config target.toml" in tail
    assert "export T23_CONSUMER_" in tail  # names of the secret variables, never their values


def test_reproduction_command_in_the_report_gets_an_http_answer(broken_run: Run) -> None:
    """Copy the command out of report.html, paste it into a POSIX shell: the target answers, the
    replay re-judges the answer, and exits 1 with the finding because the target still fails."""
    commands = [
        html.unescape(m) for m in re.findall(r'<pre class="repro">(.*?)</pre>', broken_run.html(), re.S)
    ]
    replay = next(c for c in commands if "conformance replay" in c and "valid_minutes=" in c)
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("sh is not installed")
    proc = subprocess.run(
        [sh, "-c", replay],
        cwd=broken_run.cwd,
        env=broken_run.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"FAIL [{FAILING}]" in proc.stderr and "bounds_policy is 'clamp'" in proc.stderr
    assert re.search(r"^HTTP 200 ", proc.stdout, re.M)
    assert 'code="invalid_input"' in proc.stdout or '"code":"invalid_input"' in proc.stdout.replace(" ", "")


def test_diff_of_the_two_runs_flags_the_must_regression(broken_run: Run, embedded_run: Run) -> None:
    proc = suite_runs.conformance_in_process(
        "report",
        "diff",
        str(embedded_run.report / "results.json"),
        str(broken_run.report / "results.json"),
        cwd=broken_run.cwd,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(rf"{FAILING}\s+MUST\s+PASS -> FAIL\s+REGRESSION", proc.stdout)


# ------------------------------------------------------------------ secrets
def _all_output(run: Run) -> Iterable[tuple[str, str]]:
    for path in sorted(run.report.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(run.cwd)), path.read_bytes().decode("utf-8", errors="replace")
    yield "stdout", run.proc.stdout
    yield "stderr", run.proc.stderr


def test_no_secret_or_signature_in_any_output(
    broken_run: Run, broken_server: tuple[ReferenceServer, SignatureRecorder]
) -> None:
    _, recorder = broken_server
    assert len(recorder.signatures) > 100  # the run really signed requests, in every placement
    leaks = []
    for name, raw in _all_output(broken_run):
        views = {raw, html.unescape(raw), unquote(html.unescape(raw))}
        for text in views:
            leaks += [f"{name}: secret {s!r}" for s in SECRET_ENV.values() if s in text]
            leaks += [f"{name}: signature {s!r}" for s in recorder.signatures if s in text or s[:-1] in text]
            leaks += [f"{name}: {m.group(0)!r}" for m in _UNREDACTED.finditer(text)]
    assert sorted(set(leaks)) == []
    assert "oauth_signature" in (broken_run.report / "results.json").read_text()  # it was there, redacted


# ------------------------------------------------------------------ in a real browser
def _chromium() -> str | None:
    for name in (os.environ.get("CONFORMANCE_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


CHROMIUM = _chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)


def _browser(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *mode,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed pixel rows of a PNG (enough to tell a blank page)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def _dom(run_page: Path, tmp_path: Path) -> tuple[StrictHTML, str]:
    """The DOM after the page's own script ran, parsed, and as Chromium serialised it."""
    proc = _browser(run_page, tmp_path / "profile-dom", "--dump-dom")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    parser = StrictHTML()
    parser.feed(proc.stdout)
    return parser, proc.stdout


@needs_browser
def test_browser_shows_verdict_matrix_and_evidence_of_a_failing_run(broken_run: Run, tmp_path: Path) -> None:
    page = broken_run.report / "report.html"
    shot = tmp_path / "report.png"
    proc = _browser(page, tmp_path / "profile-shot", "--screenshot=" + str(shot), "--window-size=1400,3000")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    width, height, rows = _png(shot)
    assert (width, height) == (1400, 3000)
    assert shot.stat().st_size > 50_000 and len(set(rows)) > 50  # rendered content, not a blank page

    dom, _ = _dom(page, tmp_path)
    text = " ".join("".join(dom.text).split())
    assert "NOT CONFORMANT" in text
    for req in broken_run.results()["requirements"]:  # the matrix
        assert req["id"] in text
    assert "Position taken" in text and "Spec reference" in text
    assert "bounds_policy is 'clamp'" in text and "invalid_input" in text  # the failure's evidence
    # the failures summary sits under the banner, above the full matrix
    assert text.index(" failing test") < text.index("Position taken")
    assert text.index(f"{FAILING}: valid_minutes=") < text.index("Position taken")
    assert "conformance replay --config target.toml" in text
    assert ("form", "id", "filters") in dom.attrs
    assert not [a for a in dom.attrs if a[0] == "form" and a[1] == "hidden"]  # the page's script ran (CSP ok)


@needs_browser
def test_browser_runs_no_script_injected_by_a_hostile_target(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(render_html(hostile_results()), encoding="utf-8")
    dom, serialised = _dom(page, tmp_path)
    assert dom.tags["img"] == 0 and dom.tags["svg"] == 0 and dom.tags["script"] == 1
    assert not [a for a in dom.attrs if a[1] == "data-pwned" or a[1].startswith("on")]
    title = re.search(r"<title>(.*?)</title>", serialised, re.S)
    assert title and title.group(1).startswith("NOT CONFORMANT")  # the payload sets it to PWNED
    assert "<script>document.title='PWNED'" in "".join(dom.text)  # shown as text
    assert not [a for a in dom.attrs if a[0] == "form" and a[1] == "hidden"]
