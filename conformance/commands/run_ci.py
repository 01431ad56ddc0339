"""What ``conformance run`` gives CI and HTTP-debugging tools besides the three reports.

- ``--har FILE``: every exchange of the run as HAR 1.2 (:mod:`conformance.report.har`); with
  ``--certify`` the HAR is also written into the report dir as ``exchanges.har`` for the bundle.
- ``$GITHUB_STEP_SUMMARY``: a Markdown summary of the run appended to the job page
  (:mod:`conformance.report.markdown`).
- A run the preflight stops (exit 2: refused credentials, unknown photo, wrong base_url) still writes
  ``results.json`` (the reason, no verdict on the target) and a ``junit.xml`` whose one test case
  carries the reason, so CI artifact steps and test views show why.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.commands.common import UsageError, err
from conformance.model.exit_codes import EXIT_INTERRUPTED
from conformance.model.verdict import RunVerdict
from conformance.report.har import CERTIFY_NAME, HarRecorder
from conformance.report.markdown import append_step_summary
from conformance.results.document import build_results
from conformance.suite.har import HarCapture
from conformance.suite.outputs import run_facts
from conformance.suite.state import RunState

STOPPED_VERDICT = RunVerdict.STOPPED  # results.json of a run the preflight stopped: no verdict on the target


def add_ci_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--har",
        metavar="FILE",
        default=None,
        help="write every request the run sent, with its response and timings, to FILE as HAR 1.2 "
        "(opens in browser developer tools, Charles, Fiddler); redacted like the reports",
    )


class RunExtras:
    """The HAR recorder and the CI outputs of one run; :meth:`finish` or :meth:`stopped` ends it."""

    def __init__(self, state: RunState, args: argparse.Namespace) -> None:
        self.state = state
        self.har_paths: list[Path] = []
        har = getattr(args, "har", None)
        if har:
            if Path(har).is_dir():
                raise UsageError(f"--har {har}: is a directory; give a file name such as run.har")
            self.har_paths.append(Path(har))
        if getattr(args, "certify", False):
            self.har_paths.append(state.report_dir / CERTIFY_NAME)
        self.recorder: HarRecorder | None = None
        self.plugins: list[Any] = []
        if self.har_paths and state.client is not None:
            spool_dir = Path(tempfile.mkdtemp(prefix="conformance-har-"))
            weakref.finalize(self, shutil.rmtree, spool_dir, True)
            names = [name for name, _ in state.client.network.headers]  # --header: sent, never recorded
            self.recorder = HarRecorder(spool_dir / "exchanges.jsonl", names)
            state.client.observers.append(self.recorder)
            self.plugins.append(HarCapture(self.recorder))

    def finish(self, results: dict[str, Any]) -> None:
        """After the run: the HAR files, then the job-page summary (both best effort, one line on failure)."""
        self._write_har()
        try:
            append_step_summary(results, self.state.report_dir)
        except OSError as exc:
            err(f"note: could not append the job summary to $GITHUB_STEP_SUMMARY: {exc.strerror or exc}")

    def _write_har(self) -> None:
        if self.recorder is None:
            return
        redactor = self.state.client.redactor if self.state.client is not None else None
        try:
            self.recorder.write(self.har_paths, redactor)
        except OSError as exc:
            err(f"note: could not write the HAR file: {exc.strerror or exc}")

    def stopped(self, reason: str) -> None:
        """The preflight stopped the run (exit 2): results.json and junit.xml say why, for CI."""
        state = self.state
        results = build_results(run_facts(state))
        summary = results["summary"]
        summary.update(
            verdict=STOPPED_VERDICT,
            exit_code=2,
            stopped={"by": "preflight", "reason": reason},
            must_failed=[],
            should_warnings=[],
            unverified=[],
            accepted_unverified=[],
        )
        for req in results.get("requirements") or ():
            if req.get("verdict") != "not-in-profile":
                req["verdict"] = "not-run"
                req["unverified_reason"] = f"the preflight stopped the run: {reason}"
                req["unverified_cause"] = "stopped"
        results["tests"] = []
        redactor = state.client.redactor if state.client is not None else None
        if redactor is not None:
            results = redactor.scrub_value(results)
            reason = redactor.scrub(reason)
        try:
            state.report_dir.mkdir(parents=True, exist_ok=True)
            text = json.dumps(results, indent=2, ensure_ascii=False)
            (state.report_dir / "results.json").write_text(text, encoding="utf-8")
            (state.report_dir / "junit.xml").write_bytes(stopped_junit(reason))
        except OSError as exc:
            err(f"note: could not write the reports of the stopped run: {exc.strerror or exc}")
        self.finish(results)


def stopped_junit(reason: str) -> bytes:
    """A JUnit file with one test case, in error, carrying why the run never started its tests."""
    return untested_junit(
        STOPPED_VERDICT,
        2,
        f"the preflight stopped the run (exit 2): {reason}",
        f"{reason}\n\nNo suite test ran: the preflight request found a mistake in the config or the "
        "command line that only the user can fix. Fix it and run again.",
        case="preflight",
    )


def interrupted_junit(signal_name: str) -> bytes:
    """A JUnit file for a run interrupted before its tests started (exit 130)."""
    return untested_junit(
        RunVerdict.INTERRUPTED,
        EXIT_INTERRUPTED,
        f"interrupted by {signal_name} before any suite test ran (exit {EXIT_INTERRUPTED})",
        "No suite test ran, so nothing was verified: run again to certify the target.",
        case="run",
    )


def untested_junit(verdict: str, exit_code: int, message: str, text: str, *, case: str) -> bytes:
    """A JUnit file with one test case (named ``case``), in error, for a run that ended before its tests."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites, "testsuite", name="conformance", tests="1", errors="1", failures="0", skipped="0"
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="conformance.verdict", value=str(verdict))
    ET.SubElement(props, "property", name="conformance.exit_code", value=str(exit_code))
    testcase = ET.SubElement(suite, "testcase", classname="conformance", name=case)
    error = ET.SubElement(testcase, "error", message=message)
    error.text = text
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)
