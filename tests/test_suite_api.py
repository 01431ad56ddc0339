"""The ``api`` handle's judgement (one requirement binding per test) and the settings profiles' budgets.

Real requests to a real reference server: the findings judged here carry real exchanges.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance.model.finding import Finding, NotApplicable, Severity
from conformance.suite.api import Api, ConformanceFailure
from conformance.suite.budget import BUDGETS, STATEFUL_EXAMPLES_CAP, budget_for
from conformance.suite.options import new_state, start_embedded
from conformance.transport.client import TargetClient

MARKED = ["RESPONSE-ECHO", "HTTP-STATUS-200"]


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An ``api`` handle as a test marked ``@requirement("RESPONSE-ECHO", "HTTP-STATUS-200")`` gets it."""
    server, config = start_embedded()
    values = {"profile": "core", "settings": "default", "report_dir": str(tmp_path_factory.mktemp("r"))}
    state = new_state(config, values, embedded=True)
    client = TargetClient(config)
    try:
        api = Api(state, client)
        api.declared = list(MARKED)
        api.requirements = list(MARKED)
        yield api
    finally:
        client.close()
        server.stop()


def _unbound(api: Api, severity: Severity = "error") -> Finding:
    """A finding about a real answer, as a check that leaves the binding to the suite returns it."""
    obs = api.call(api.request())
    return Finding("", "probe", "no requirement named", exchange=obs.exchange, severity=severity)


def test_unbound_findings_take_the_requirement_under_test(handle: Api) -> None:
    bound_already = Finding("HTTP-STATUS-200", "probe", "bound by its check")
    with pytest.raises(ConformanceFailure) as failure:
        handle.expect([_unbound(handle), bound_already])
    assert [f.requirement for f in failure.value.findings] == ["RESPONSE-ECHO", "HTTP-STATUS-200"]


def test_requirement_argument_binds_to_another_marked_id(handle: Api) -> None:
    with pytest.raises(ConformanceFailure) as failure:
        handle.expect([_unbound(handle)], requirement="HTTP-STATUS-200")
    assert failure.value.findings[0].requirement == "HTTP-STATUS-200"


def test_requirement_the_marker_does_not_name_is_a_suite_bug(handle: Api) -> None:
    with pytest.raises(ValueError, match="FORMAT-JSONP"):
        handle.expect([_unbound(handle)], requirement="FORMAT-JSONP")


def test_a_finding_pre_bound_to_an_undeclared_id_is_a_suite_bug(handle: Api) -> None:
    stray = Finding("TOKEN-UNIQUE", "probe", "bound by checks.bound to an ID the marker lacks")
    with pytest.raises(ValueError, match="TOKEN-UNIQUE"):
        handle.expect([_unbound(handle), stray])
    baseline = Finding("INPUT-ROBUST", "probe", "bound by check_api_response, whatever the marker")
    with pytest.raises(ConformanceFailure) as failure:
        handle.expect([baseline])
    assert failure.value.findings == [baseline]


def test_not_applicable_adds_nothing_and_warnings_are_bound(handle: Api) -> None:
    handle.expect(NotApplicable("probe", "no token in an error answer"), [_unbound(handle, "warning")])
    assert handle.warnings[-1].requirement == "RESPONSE-ECHO"


def test_falsifying_example_names_the_request_that_failed(handle: Api) -> None:
    @settings(max_examples=2, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.just("x"))
    def probe(value: str) -> None:
        handle.expect([_unbound(handle)])

    with pytest.raises(ConformanceFailure) as failure:
        probe()
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "[RESPONSE-ECHO] request #" in notes and "GET /api/photo/get-replace-token" in notes


def test_settings_profiles_really_differ() -> None:
    polite, default, thorough = BUDGETS["polite"], BUDGETS["default"], BUDGETS["thorough"]
    for name in ("stateful_examples", "stateful_steps", "token_sample"):
        assert getattr(polite, name) < getattr(default, name) <= getattr(thorough, name), name
    assert polite.max_examples == default.max_examples < thorough.max_examples
    assert thorough.sweep_sample is None and polite.sweep_sample < default.sweep_sample  # type: ignore[operator]
    for name, budget in BUDGETS.items():
        profile = settings.get_profile(f"conformance-{name}")
        assert profile.max_examples == budget.max_examples
        assert (Phase.shrink in profile.phases) == (name != "polite")  # polite sends no shrink requests
        suppressed = set(profile.suppress_health_check)
        assert suppressed == {HealthCheck.function_scoped_fixture, HealthCheck.too_slow}


def test_max_examples_overrides_every_profile_and_caps_the_state_machine() -> None:
    assert budget_for("thorough", 3).max_examples == 3 and budget_for("thorough", 3).stateful_examples == 3
    assert budget_for("polite", 500).stateful_examples == STATEFUL_EXAMPLES_CAP
    assert budget_for("default", None) == BUDGETS["default"]
