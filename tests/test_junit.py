"""junit.xml as a CI test view shows it: requirement IDs in the names, findings as failure messages.

A real run against a faulted reference (two faults, two tests selected with -k) writes junit.xml; the
file is parsed back, and rendered with junit2html (a JUnit viewer) in headless Chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from conformance.report.junit import rewrite_junit
from tests.test_report_run import Run, _dom, conformance, needs_browser, subprocess_env

SELECTION = "test_every_valid_minutes_value_is_honoured or test_xml_and_json_carry_the_same_values"


@pytest.fixture(scope="module")
def faulted_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    faults = frozenset({"valid_minutes_max_exclusive", "xml_missing_return_url"})
    with ReferenceServer(ReferenceSettings(faults=faults)) as server:
        cwd = tmp_path_factory.mktemp("junit")
        write_target_config(server, cwd / "target.toml")
        env = subprocess_env()
        proc = conformance(
            "run",
            "--config",
            "target.toml",
            "--report-dir",
            "report",
            "--max-examples",
            "3",
            "--seed",
            "7",
            "-k",
            SELECTION,
            cwd=cwd,
            env=env,
        )
        yield Run(cwd, cwd / "report", proc, env)


def _cases(run: Run) -> dict[str, ET.Element]:
    root = ET.parse(run.report / "junit.xml").getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_testcase_names_carry_the_requirement_ids(faulted_run: Run) -> None:
    assert faulted_run.proc.returncode == 1, faulted_run.proc.stdout[-2000:] + faulted_run.proc.stderr[-2000:]
    names = set(_cases(faulted_run))
    assert "[PARAMS-VALID-MINUTES-RANGE] test_every_valid_minutes_value_is_honoured" in names
    assert "[FORMAT-XML-JSON-AGREE] test_xml_and_json_carry_the_same_values" in names


def test_failure_message_is_the_finding_then_replay_then_report(faulted_run: Run) -> None:
    case = _cases(faulted_run)["[PARAMS-VALID-MINUTES-RANGE] test_every_valid_minutes_value_is_honoured"]
    failure = case.find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert message.startswith("[PARAMS-VALID-MINUTES-RANGE] valid_minutes is '1439', expected 1440")
    assert "expected: 1440" in message and "observed: '1439'" in message
    replay = message.index("replay: conformance replay --config target.toml")
    assert "--requirement PARAMS-VALID-MINUTES-RANGE --check check_numeric_field" in message
    # the requirement's row in report.html, relative to the report dir: valid in a downloaded artifact
    assert replay < message.index("report: ")
    assert message.rstrip().endswith(" | report: report.html#req-PARAMS-VALID-MINUTES-RANGE")
    assert str(faulted_run.report) not in message + (failure.text or "")
    body = failure.text or ""
    assert body.index("expected: 1440") < body.index("conformance replay") < body.index("full evidence:")


def test_no_hypothesis_statistics_and_the_verdict_properties_stay(faulted_run: Run) -> None:
    text = (faulted_run.report / "junit.xml").read_text(encoding="utf-8")
    assert "hypothesis-statistics" not in text
    root = ET.fromstring(text)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["conformance.verdict"] == "NOT CONFORMANT" and props["conformance.exit_code"] == "1"
    assert any(name.startswith("conformance.unverified.") for name in props)  # the -k run left MUSTs out


def test_rewrite_keeps_a_file_it_cannot_parse(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("<testsuites><broken", encoding="utf-8")
    rewrite_junit(path, {"tests": []}, "report.html")
    assert path.read_text(encoding="utf-8") == "<testsuites><broken"


JUNIT2HTML = shutil.which("junit2html", path=str(Path(sys.executable).parent)) or shutil.which("junit2html")


@needs_browser
@pytest.mark.skipif(JUNIT2HTML is None, reason="junit2html is not installed (pip install .[test])")
def test_junit2html_shows_names_and_findings_in_a_browser(faulted_run: Run, tmp_path: Path) -> None:
    assert JUNIT2HTML is not None
    page = tmp_path / "junit.html"
    proc = subprocess.run(
        [JUNIT2HTML, str(faulted_run.report / "junit.xml"), str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and page.is_file(), proc.stderr
    dom, _ = _dom(page, tmp_path)
    text = " ".join("".join(dom.text).split())
    assert "[PARAMS-VALID-MINUTES-RANGE] test_every_valid_minutes_value_is_honoured" in text
    assert "[FORMAT-XML-JSON-AGREE] test_xml_and_json_carry_the_same_values" in text
    assert "valid_minutes is '1439', expected 1440" in text
    assert "conformance replay --config target.toml" in text
    assert "hypothesis-statistics" not in text
