"""The ``api`` handle's judgement (one requirement binding per test) and the settings profiles' budgets.

Real requests to a real reference server: the findings judged here carry real exchanges.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance import checks
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


def _fresh(handle: Api, marked: list[str] = MARKED) -> Api:
    """A new handle on the same run and server: what one test starts with (nothing judged yet)."""
    api = Api(handle.state, handle.client)
    api.declared = list(marked)
    api.requirements = list(marked)
    return api


def test_a_test_whose_checks_never_applied_did_not_judge_its_requirement(handle: Api) -> None:
    """Every answer an error, where the echo is judged on a success: the test passes, but RESPONSE-ECHO
    was not judged, with the check's reason; the baseline (check_api_response) never counts for it."""
    api = _fresh(handle)
    req = api.request(return_url="https://example.com/cb?a=1").but(auth=None)  # refused: unsigned
    obs = api.call(req)
    assert obs.parsed is not None and obs.parsed.status == "error"
    api.expect(checks.check_api_response(obs, "xml"), checks.check_echo(obs, req))
    assert api.not_judged() == {"RESPONSE-ECHO": "check_echo: not a success"}
    signed = api.request(return_url="https://example.com/cb?a=1")
    ok = api.call(signed)
    api.expect(checks.check_api_response(ok, "xml"), checks.check_echo(ok, signed))  # one judgement is enough
    assert api.not_judged() == {}


def test_a_refusal_judged_as_accepted_is_a_judgement(handle: Api) -> None:
    """check_echo_or_refused judges a refusal with the documented code (a pass), so it is judged; the
    same request refused unsigned is a finding (permission_denied is not a refusal of the input)."""
    api = _fresh(handle)
    req = api.request(valid_minutes="abc", return_url="https://example.com/cb")  # refused: invalid_input
    obs = api.call(req)
    assert obs.attr("code") == "invalid_input"
    api.expect(checks.check_api_response(obs, "xml"), checks.check_echo_or_refused(obs, req))
    assert api.not_judged() == {} and api.judged == {"RESPONSE-ECHO"}
    denied = api.call(req.but(auth=None))
    with pytest.raises(ConformanceFailure, match="permission_denied"):
        api.expect(checks.check_echo_or_refused(denied, req))


def test_bound_not_applicable_is_recorded_under_its_own_requirement(handle: Api) -> None:
    """A judgement of a second requirement in one expect (checks.bound) counts for that one, judged or not;
    the baseline judges only the baseline's own requirements."""
    api = _fresh(handle)
    obs = api.call(api.request())  # XML: the JSON envelope check does not apply
    api.expect(checks.bound(checks.check_json_envelope(obs), "HTTP-STATUS-200"), checks.check_status_ok(obs))
    assert api.judged == {"RESPONSE-ECHO"}
    assert api.not_judged() == {"HTTP-STATUS-200": "check_json_envelope: not a JSON success"}
    api.expect(checks.check_api_response(obs, "xml"), requirement="HTTP-STATUS-200")
    assert api.not_judged() == {}
    outside = _fresh(handle, ["RESPONSE-ECHO"])  # an ID outside the marker's profile IDs is never reported
    outside.expect(NotApplicable("probe", "n/a", requirement="HTTP-STATUS-200"))
    assert outside.not_judged() == {}


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
