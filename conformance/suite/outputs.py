"""The end of a run on the pytest side: hand the run's facts to the results layer, write the reports.

results.json comes from :mod:`conformance.results`; report.html is rendered from exactly the text
written there, so both show the same (redacted) facts.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from hypothesis import settings

from conformance.report.html import render_html
from conformance.results.document import RunFacts, build_results, results_text
from conformance.results.files import ReportWriteError, write_atomic
from conformance.suite.state import RunState


def run_facts(state: RunState) -> RunFacts:
    """The plain facts of the run so far; the fields both share are copied by name."""
    derived: dict[str, Any] = {
        "max_examples": settings().max_examples,  # what Hypothesis' loaded profile really used
        "stats": state.client.stats if state.client is not None else None,
        "skew": state.skew if state.skew_samples else None,
    }
    shared = {f.name: getattr(state, f.name) for f in fields(RunFacts) if f.name not in derived}
    return RunFacts(**shared, **derived)


def write_outputs(state: RunState) -> dict[str, Any]:
    """Build the results, write results.json and report.html into the report dir; the results.

    A run whose every request failed in transit is UNREACHABLE: the state learns that too. A file
    that cannot be written (a full disk) is noted in ``state.write_errors``, never raised: the
    verdict is still known and printed, and the command exits with the usage/environment code.
    """
    facts = run_facts(state)
    results = build_results(facts)
    state.preflight_error = facts.preflight_error
    redactor = state.client.redactor if state.client is not None else None
    text = results_text(results, redactor)
    write_report_file(state, state.report_dir / "results.json", text)
    html = render_html(json.loads(text))
    if redactor is not None:
        html = redactor.scrub_document(html)  # "[redacted]": no markup characters
    write_report_file(state, state.report_dir / "report.html", html)
    return results


def write_report_file(state: RunState, path: Path, data: str | bytes) -> bool:
    """Write one report file atomically; a failure is kept as one line in ``state.write_errors``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        state.write_errors.append(exc if isinstance(exc, ReportWriteError) else ReportWriteError(path, exc))
        return False
    return True
