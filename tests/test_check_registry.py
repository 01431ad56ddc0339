"""The check registry stamps every finding with the check that made it: names and titles cannot drift."""

from __future__ import annotations

from conformance import checks
from conformance.checks.registry import (
    CHECKS,
    SERVER_ERROR,
    TRANSPORT,
    check,
    fail,
    not_applicable,
    pseudo_finding,
)
from conformance.model.finding import NotApplicable


@check("a probe that always complains")
def check_probe_for_the_registry(flag: bool) -> checks.Outcome:
    """Fails when ``flag``, else does not apply."""
    return [fail("it complained", None, "quiet", "loud")] if flag else not_applicable("nothing to judge")


@check("a probe that passes another check's findings on")
def check_probe_that_delegates() -> checks.Outcome:
    """Returns its own finding and one of the check it calls."""
    return [*check_probe_for_the_registry(True), fail("my own", None)]


def test_a_check_stamps_its_name_and_title_on_its_findings() -> None:
    (finding,) = check_probe_for_the_registry(True)
    assert (finding.check, finding.title) == ("check_probe_for_the_registry", "a probe that always complains")
    skipped = check_probe_for_the_registry(False)
    assert isinstance(skipped, NotApplicable) and skipped.check == "check_probe_for_the_registry"


def test_findings_of_a_called_check_keep_their_own_name() -> None:
    called, own = check_probe_that_delegates()
    assert called.check == "check_probe_for_the_registry" and own.check == "check_probe_that_delegates"
    assert own.title == "a probe that passes another check's findings on"


def test_every_registered_check_titles_its_findings_and_pseudo_checks_have_titles() -> None:
    assert CHECKS["server_error"] is SERVER_ERROR and SERVER_ERROR.func is None and SERVER_ERROR.title
    assert CHECKS["transport"] is TRANSPORT and TRANSPORT.title
    finding = pseudo_finding(TRANSPORT, "HTTP-STATUS-200", "reset", "an HTTP response", "reset", None)
    assert (finding.check, finding.title) == ("transport", TRANSPORT.title)
    assert all(
        info.title and (info.func is None or info.func.__name__ == name) for name, info in CHECKS.items()
    )


def test_de_duplication_reads_the_evidence_not_the_message() -> None:
    (a,) = check_probe_for_the_registry(True)
    (b,) = check_probe_for_the_registry(True)
    b.message = "the same defect, told in other words"
    assert a.key == b.key
    b.observed = "louder"
    assert a.key != b.key
