"""The console's evidence block: first finding and reproduction per failed MUST, brief by design."""

from __future__ import annotations

from conformance.report.console import summary_lines
from conformance.report.evidence import must_failures
from tests.test_report_html import hostile_results


def test_one_entry_per_failed_or_errored_must_in_catalog_order() -> None:
    evidence = must_failures(hostile_results())
    assert [e.requirement for e in evidence] == ["HTTP-STATUS-200", "PARAMS-OUT-OF-RANGE"]
    params = evidence[1]
    assert params.nodeid == "test_params.py::test_out_of_range_follows_declared_policy"
    assert params.message.startswith("rejected <script>")
    assert params.reproduction is not None and params.reproduction.kind == "replay"


def failing_results() -> dict:
    """The hostile fixture with the summary field the console block lists failures from."""
    results = hostile_results()
    results["summary"]["must_failed"] = [e.requirement for e in must_failures(results)]
    return results


def test_console_block_carries_message_test_and_command() -> None:
    text = "\n".join(summary_lines(failing_results()))
    assert "MUST failed (" in text and "  PARAMS-OUT-OF-RANGE: rejected" in text
    assert "    conformance replay --config" in text and "    # the config reads its secrets" in text
    assert "AUTH-NONCE-REPLAY:" not in text  # SHOULD warnings are not listed as MUST failures


def test_console_block_is_capped() -> None:
    text = "\n".join(summary_lines(failing_results(), limit=1))
    assert "  ... and 1 more in report.html" in text
    assert "  PARAMS-OUT-OF-RANGE:" not in text


def test_no_failure_block_for_conformant_or_unreachable_runs() -> None:
    results = failing_results()
    results["summary"]["verdict"] = "UNREACHABLE"
    assert "MUST failed (" not in "\n".join(summary_lines(results))
    for req in results["requirements"]:
        req["verdict"] = "pass"
    results["summary"].update(verdict="CONFORMANT", must_failed=[])
    assert "MUST failed (" not in "\n".join(summary_lines(results))


def test_a_failure_without_findings_still_names_the_test() -> None:
    results = hostile_results()
    results["tests"][3]["findings"] = []
    results["tests"][3]["message"] = "AssertionError: plain assert\nmore"
    evidence = must_failures(results)[1]
    assert evidence.message == "AssertionError: plain assert" and evidence.reproduction is None
