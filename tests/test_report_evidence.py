"""The console's evidence lines: first finding and reproduction per failed MUST, brief by design."""

from __future__ import annotations

from conformance.report.evidence import console_lines, must_failures
from tests.test_report_html import hostile_results


def test_one_entry_per_failed_or_errored_must_in_catalog_order() -> None:
    evidence = must_failures(hostile_results())
    assert [e.requirement for e in evidence] == ["HTTP-STATUS-200", "PARAMS-OUT-OF-RANGE"]
    params = evidence[1]
    assert params.nodeid == "test_params.py::test_out_of_range_follows_declared_policy"
    assert params.message.startswith("rejected <script>")
    assert params.reproduction is not None and params.reproduction.kind == "replay"


def test_console_lines_carry_message_test_and_command() -> None:
    lines = console_lines(hostile_results())
    assert lines[0] == "evidence (first finding per failed MUST):"
    text = "\n".join(lines)
    assert "  PARAMS-OUT-OF-RANGE: rejected" in text
    assert "    conformance replay --config" in text and "    # the config reads its secrets" in text
    assert "AUTH-NONCE-REPLAY" not in text  # SHOULD warnings stay in the table and the report


def test_console_lines_are_capped() -> None:
    lines = console_lines(hostile_results(), limit=1)
    assert lines[-1] == "  ... and 1 more failed MUST requirements in report.html"
    assert "PARAMS-OUT-OF-RANGE" not in "\n".join(lines)


def test_nothing_for_conformant_or_unreachable_runs() -> None:
    results = hostile_results()
    results["summary"]["verdict"] = "UNREACHABLE"
    assert console_lines(results) == []
    for req in results["requirements"]:
        req["verdict"] = "pass"
    results["summary"]["verdict"] = "CONFORMANT"
    assert console_lines(results) == []


def test_a_failure_without_findings_still_names_the_test() -> None:
    results = hostile_results()
    results["tests"][3]["findings"] = []
    results["tests"][3]["message"] = "AssertionError: plain assert\nmore"
    evidence = must_failures(results)[1]
    assert evidence.message == "AssertionError: plain assert" and evidence.reproduction is None
