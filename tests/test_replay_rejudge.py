"""``conformance replay`` re-judges: the printed command, run under POSIX ``sh``, exits 1 with the finding
against a faulted reference and 0 against the clean one.

The findings are real: a request sent to a faulted reference server over loopback, judged by the
suite's check functions; the command is the one the reports print for that finding
(``build_reproduction``), run verbatim by ``sh`` (dash on Debian) in a directory holding the config.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import checks
from conformance.commands.replay import run_replay
from conformance.config import parse_config
from conformance.model.exchange import ApiRequest
from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from conformance.reference.variants import VARIANTS
from conformance.report.reproduce import build_reproduction
from conformance.transport.client import TargetClient
from tests.test_report_run import subprocess_env

SH = shutil.which("sh")
needs_sh = pytest.mark.skipif(SH is None, reason="no sh on PATH")
# A value no shell may touch: $ expansion, backquotes, both quotes, a tab and a newline.
TRICKY_URL = "https://example.com/cb?a=$HOME&b=`id`&c='q\"\t\nend"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ReferenceServer]]:
    faulted = {
        "clean": frozenset(),
        "max_exclusive": frozenset({"valid_minutes_max_exclusive"}),
        "dropped": frozenset({"return_url_dropped"}),
        "xml_return_url": frozenset({"xml_missing_return_url"}),
        "callback_ignored": frozenset({"callback_ignored"}),
    }
    started = {name: ReferenceServer(ReferenceSettings(faults=f)).start() for name, f in faulted.items()}
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def _workdir(server: ReferenceServer, tmp_path: Path, name: str) -> Path:
    cwd = tmp_path / name
    cwd.mkdir()
    write_target_config(server, cwd / "target.toml")
    return cwd


def _finding(server: ReferenceServer, req: ApiRequest, judge) -> checks.Finding:  # type: ignore[no-untyped-def]
    """Send ``req`` to ``server`` and judge it: the first error finding (the test fails without one)."""
    client = TargetClient(parse_config(server.target_config(), source="<test>"))
    try:
        ex = client.send(req)
    finally:
        client.close()
    obs = checks.observe(ex, "json" if req.param("format") == "json" else "xml")
    found = [f for f in judge(obs) if f.severity == "error"]
    assert found, "the fault produced no finding"
    return found[0]


def _command(finding: checks.Finding) -> str:
    data = finding.to_dict()
    repro = build_reproduction(data["exchange"], {"config": "target.toml"}, data)  # type: ignore[arg-type]
    assert repro is not None and repro.kind == "replay"
    assert "$'" not in repro.command  # no bash-only quoting
    assert (
        f"--requirement {finding.requirement}" in repro.command
        and f"--check {finding.check}" in repro.command
    )
    return repro.command


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SH is not None
    return subprocess.run(
        [SH, "-c", command], cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )


@needs_sh
def test_numeric_finding_replays_fail_on_the_fault_and_pass_on_the_fix(
    servers: dict[str, ReferenceServer], tmp_path: Path
) -> None:
    req = ApiRequest(params=(("photo_id", "123456"), ("valid_minutes", "1440")))
    finding = _finding(
        servers["max_exclusive"],
        req,
        lambda obs: checks.bound(checks.check_numeric_field(obs, "valid_minutes", 1440), "X"),
    )
    command = _command(finding)
    bad = _sh(command, _workdir(servers["max_exclusive"], tmp_path, "bad"))
    assert bad.returncode == 1, bad.stderr
    assert "FAIL [X] valid_minutes is '1439', expected 1440" in bad.stderr
    assert "expected: 1440" in bad.stderr and "observed: '1439'" in bad.stderr
    good = _sh(command, _workdir(servers["clean"], tmp_path, "good"))
    assert good.returncode == 0, good.stderr
    assert "PASS X (check_numeric_field)" in good.stderr


@needs_sh
def test_shell_special_and_control_characters_arrive_exactly_under_sh(
    servers: dict[str, ReferenceServer], tmp_path: Path
) -> None:
    """A passing echo check on the clean server proves the value arrived byte for byte under the
    right name (dash used to send ``%24return_url`` for bash's ``$'..'`` quoting)."""
    req = ApiRequest(params=(("photo_id", "123456"), ("return_url", TRICKY_URL)))
    finding = _finding(
        servers["dropped"], req, lambda obs: checks.bound(checks.check_echo(obs, req), "RESPONSE-ECHO")
    )
    command = _command(finding)
    assert "--params-json" in command
    assert shlex.split(command)[0:2] == ["conformance", "replay"]
    bad = _sh(command, _workdir(servers["dropped"], tmp_path, "bad"))
    assert bad.returncode == 1, bad.stderr
    assert "FAIL [RESPONSE-ECHO] return_url not echoed exactly" in bad.stderr
    good = _sh(command, _workdir(servers["clean"], tmp_path, "good"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "%24return_url" not in good.stdout and "return_url=https" in good.stdout


@needs_sh
def test_xml_json_disagreement_replays_both_formats_and_names_the_failing_side(
    servers: dict[str, ReferenceServer], tmp_path: Path
) -> None:
    req = ApiRequest(params=(("photo_id", "123456"), ("return_url", "https://example.com/done")))
    client = TargetClient(parse_config(servers["xml_return_url"].target_config(), source="<test>"))
    try:
        xml_ex, json_ex = client.send_many([req, req.with_params(format="json")])
    finally:
        client.close()
    found = checks.bound(
        checks.check_formats_agree(checks.observe(xml_ex, "xml"), checks.observe(json_ex, "json")),
        "FORMAT-XML-JSON-AGREE",
    )
    assert found and found[0].related is xml_ex  # the finding keeps both answers
    command = _command(found[0])
    bad = _sh(command, _workdir(servers["xml_return_url"], tmp_path, "bad"))
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.count("HTTP 200") == 2  # both answers printed
    assert "failing side: XML" in bad.stderr and "FAIL [FORMAT-XML-JSON-AGREE]" in bad.stderr
    good = _sh(command, _workdir(servers["clean"], tmp_path, "good"))
    assert good.returncode == 0, good.stderr


def test_replay_without_a_check_judges_the_baseline(
    servers: dict[str, ReferenceServer], tmp_path: Path
) -> None:
    from conformance.commands.cli import main

    cwd = _workdir(servers["clean"], tmp_path, "plain")
    assert main(["replay", "--config", str(cwd / "target.toml"), "photo_id=123456"]) == 0
    assert main(["replay", "--config", str(cwd / "target.toml"), "--params-json", "{}"]) == 2


@needs_sh
def test_jsonp_wrapper_finding_is_rejudged(servers: dict[str, ReferenceServer], tmp_path: Path) -> None:
    req = ApiRequest(params=(("photo_id", "123456"), ("format", "json"), ("callback", "cb.done")))
    finding = _finding(
        servers["callback_ignored"],
        req,
        lambda obs: checks.bound(checks.check_json_wrapper(obs, "callback", "cb.done"), "R"),
    )
    command = _command(finding)
    bad = _sh(command, _workdir(servers["callback_ignored"], tmp_path, "bad"))
    assert bad.returncode == 1 and "FAIL [R] JSON wrapper is var visual = ..." in bad.stderr, bad.stderr
    good = _sh(command, _workdir(servers["clean"], tmp_path, "good"))
    assert good.returncode == 0 and "PASS R (check_json_wrapper)" in good.stderr, good.stderr


REJUDGED_REQUESTS = [
    ("check_numeric_field", (("photo_id", "123456"), ("valid_minutes", "1440"), ("max_uploads", "1"))),
    ("check_numeric_field", (("photo_id", "123456"), ("valid_minutes", "5000"))),
    ("check_echo", (("photo_id", "123456"), ("return_url", "not a url $x"))),
    ("check_json_wrapper", (("photo_id", "123456"), ("format", "json"), ("varname", "a.b"))),
    ("check_json_wrapper", (("photo_id", "123456"), ("format", "json"), ("raw", ""))),
    ("check_name_not_reflected", (("photo_id", "123456"), ("format", "json"), ("callback", "x<y"))),
    ("check_formats_agree", (("photo_id", "123456"), ("return_url", "https://e.example/?a=1"))),
    ("check_token_fields", (("photo_id", "123456"),)),
    ("check_cached_zero", (("photo_id", "123456"),)),
]


@pytest.mark.parametrize("variant", sorted(n for n, v in VARIANTS.items() if v.profile == "core"))
def test_replay_never_fails_a_conformant_variant(variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every position of latitude passes the re-judging replay, as it passes the suite."""
    with ReferenceServer(ReferenceSettings(variant=variant)) as server:
        config = parse_config(server.target_config(), source="<test>")
        for check, params in REJUDGED_REQUESTS:
            sent = tuple((k, config.photo_id if k == "photo_id" else v) for k, v in params)
            code = run_replay(ApiRequest(params=sent), config, "R", check)
            assert code == 0, f"{check} {params}: {capsys.readouterr().err[-600:]}"
