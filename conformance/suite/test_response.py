"""RESPONSE: the documented fields, the JSON envelope, caching and echo."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import checks
from conformance.model.exchange import ApiRequest
from conformance.suite import strategies
from conformance.suite.api import Api, requirement
from conformance.suite.budget import EXAMPLE_BATCH


@requirement("RESPONSE-FIELDS", "RESPONSE-JSON-ENVELOPE", "RESPONSE-CACHED-ZERO", "RESPONSE-ECHO")
@given(
    reqs=st.lists(
        st.one_of(strategies.valid_requests("PHOTO"), strategies.valid_requests("PHOTO", "json")),
        min_size=1,
        max_size=EXAMPLE_BATCH,
    )
)
# A JSON success in every run, whatever the draws: RESPONSE-JSON-ENVELOPE is judged only on one.
@example(reqs=[ApiRequest(params=(("photo_id", "PHOTO"), ("format", "json")))])
# Every pinned return_url character class, in both formats and every signature placement, whatever the seed.
@example(reqs=strategies.pinned_requests("PHOTO"))
def test_success_carries_documented_fields(api: Api, reqs: list[ApiRequest]) -> None:
    """Any valid request, GET or POST, signed anywhere: fields present, envelope right, echoed exactly."""
    reqs = [q.with_params(photo_id=api.config.photo_id) for q in reqs]
    for req, obs in zip(reqs, api.call_many(reqs), strict=True):
        fmt = "json" if req.param("format") == "json" else "xml"
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_status_ok(obs),
            checks.check_token_fields(obs, req),
            # one judgement of four requirements: each finding names its own
            checks.bound(checks.check_json_envelope(obs), "RESPONSE-JSON-ENVELOPE"),
            checks.bound(checks.check_cached_zero(obs), "RESPONSE-CACHED-ZERO"),
            checks.bound(checks.check_echo(obs, req), "RESPONSE-ECHO"),
        )


def long_url(length: int) -> str:
    """An ASCII return_url of exactly ``length`` characters, with a query string like real callbacks."""
    url = "https://www.example.com/upload/done?session=abc" + "".join(f"&k{i}=v{i}" for i in range(length))
    return url[:length]


@requirement("RESPONSE-ECHO")
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_long_return_url_is_echoed_whole_or_refused(api: Api, fmt: str) -> None:
    """A return_url of 256 to 2000 characters (1400 and 1600 on either side of the documented 1500-character
    callback switch) comes back whole; refusing it as input (invalid_input) is accepted, cutting it or
    any other error is not.

    Why: a return_url stored in a VARCHAR(255) column sends the user's callback somewhere else. Sent
    with POST so no URL-length limit of the target gets in the way. The request is signed right, so
    invalid_signature or permission_denied for it is a finding, not a refusal.
    """
    extra = {"format": "json"} if fmt == "json" else {}
    lengths = (256, 300, 1000, 1400, 1600, 2000)
    reqs = [api.request(return_url=long_url(n), **extra).but(http_method="POST") for n in lengths]
    for req, obs in zip(reqs, api.call_many(reqs), strict=True):
        api.expect(checks.check_api_response(obs, fmt), checks.check_echo_or_refused(obs, req))


@requirement("RESPONSE-ECHO")
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_return_url_that_is_not_a_url_is_echoed_or_refused(api: Api, fmt: str) -> None:
    """Text that is not an absolute http(s) URL: echoed exactly, or refused with invalid_input.

    The documents describe return_url as a URL without saying what happens to other text, so a
    server may validate it; what fails is changing it (or any other error).
    """
    extra = {"format": "json"} if fmt == "json" else {}
    reqs = [api.request(return_url=text, **extra) for text in strategies.NOT_URLS]
    for req, obs in zip(reqs, api.call_many(reqs), strict=True):
        api.expect(checks.check_api_response(obs, fmt), checks.check_echo_or_refused(obs, req))
