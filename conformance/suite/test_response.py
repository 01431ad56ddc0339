"""RESPONSE: the documented fields, the JSON envelope, caching and echo."""

from hypothesis import given
from hypothesis import strategies as st

from conformance import checks, strategies
from conformance.client import ApiRequest
from conformance.plugin import Api, requirement


@requirement("RESPONSE-FIELDS", "RESPONSE-JSON-ENVELOPE", "RESPONSE-CACHED-ZERO", "RESPONSE-ECHO")
@given(reqs=st.lists(st.one_of(strategies.valid_requests("PHOTO"), strategies.valid_requests("PHOTO", "json")),
                     min_size=1, max_size=6))
def test_success_carries_documented_fields(api: Api, reqs: list[ApiRequest]) -> None:
    """Any valid request, GET or POST, signed anywhere: fields present, envelope right, echoed exactly."""
    reqs = [q.with_params(photo_id=api.config.photo_id) for q in reqs]
    for req, obs in zip(reqs, api.call_many(reqs), strict=True):
        fmt = "json" if req.param("format") == "json" else "xml"
        api.expect(checks.check_api_response(obs, fmt, "RESPONSE-FIELDS"), checks.check_status_ok(obs, "RESPONSE-FIELDS"),
                   checks.check_token_fields(obs, req), checks.check_json_envelope(obs),
                   checks.check_cached_zero(obs), checks.check_echo(obs, req))
