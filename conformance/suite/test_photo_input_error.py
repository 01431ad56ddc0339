"""PHOTO, INPUT and ERROR: missing/unknown photos, hostile input, and the error envelope."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import checks
from conformance.model.exchange import ApiRequest
from conformance.spec import PHOTO_REFUSAL, ErrorCode
from conformance.suite import strategies
from conformance.suite.api import Api, requirement
from conformance.suite.budget import EXAMPLE_BATCH

FORMATS = ["xml", "json"]


def _fmt(fmt: str) -> dict[str, str]:
    return {"format": "json"} if fmt == "json" else {}


@requirement("PHOTO-MISSING")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_missing_photo_id_is_an_error(api: Api, method: str) -> None:
    """Refused as input (invalid_input) or as no photo (no_such_photo); the request is signed right."""
    for fmt, obs in api.call_both_formats(api.request().with_params(photo_id=None).but(http_method=method)):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_error(obs, codes=PHOTO_REFUSAL),
            checks.check_no_token(obs),
        )


@requirement("PHOTO-UNKNOWN")
def test_unknown_photo_id_is_no_such_photo(api: Api) -> None:
    """A photo_id the target does not have is refused with no_such_photo and no token."""
    if not api.config.unknown_photo_id:
        pytest.skip("no unknown_photo_id configured (an id known not to exist on the target)")
    for fmt, obs in api.call_both_formats(api.request(photo_id=api.config.unknown_photo_id)):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_error(obs, codes={ErrorCode.NO_SUCH_PHOTO}),
            checks.check_no_token(obs),
        )


@requirement("INPUT-ROBUST")
@given(reqs=st.lists(strategies.hostile_requests("PHOTO"), min_size=1, max_size=EXAMPLE_BATCH))
def test_any_input_gets_a_well_formed_answer(api: Api, reqs: list[ApiRequest]) -> None:
    """Hostile input never gets a 5xx, a trace, malformed output or a token outside the rules."""
    reqs = [
        q.but(params=tuple((k, api.config.photo_id if v == "PHOTO" else v) for k, v in q.params))
        for q in reqs
    ]
    for obs in api.call_many(reqs):
        api.expect(
            checks.check_api_response(obs, None),
            checks.check_within_bounds(obs),
            checks.check_token_fields(obs, ApiRequest()),
        )


KNOWN_HOSTILE: list[tuple[tuple[str, str], ...]] = [
    (("valid_minutes", "abc"),),
    (("max_uploads", "1e3"),),
    (("valid_minutes", "15.0"),),
    (("max_uploads", " "),),
    (("valid_minutes", "9" * 40),),
    (("max_uploads", str(2**31)),),
    (("valid_minutes", str(-(2**63))),),
    (("return_url", "https://example.com/\x01\x1f?a=\x0b"),),
    (("return_url", "a\x00b"),),
    (("photo_id", "abc"),),
    (("photo_id", ""),),
    (("photo_id", "1" * 40),),
    (("valid_minutes", "30"), ("valid_minutes", "abc")),
]
"""Inputs that break naive implementations (int() on non-digits, 32-bit columns, control characters
in XML, repeated keys), sent in every run; the property test explores around them."""


@requirement("INPUT-ROBUST")
@pytest.mark.parametrize("fmt", FORMATS)
def test_known_hostile_inputs_get_a_well_formed_answer(api: Api, fmt: str) -> None:
    """Inputs known to break implementations (huge, negative, control characters) get a well-formed answer."""
    base = api.request(**_fmt(fmt))
    reqs = []
    for pairs in KNOWN_HOSTILE:
        names = {k for k, _ in pairs}
        reqs.append(base.but(params=tuple((k, v) for k, v in base.params if k not in names) + pairs))
    for obs in api.call_many(reqs):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_within_bounds(obs),
            checks.check_token_fields(obs, ApiRequest()),
        )


def _error_requests(api: Api, fmt: str) -> list[ApiRequest]:
    """Requests every conformant server refuses (unsigned, bad signature, no photo_id, unknown photo)."""
    base = api.request(**_fmt(fmt))
    reqs = [base.but(auth=None), base.but(tamper=True), base.with_params(photo_id=None)]
    if api.config.unknown_photo_id:
        reqs.append(base.with_params(photo_id=api.config.unknown_photo_id))
    return reqs


@requirement("ERROR-ENVELOPE")
@pytest.mark.parametrize("fmt", FORMATS)
def test_errors_carry_status_code_and_message(api: Api, fmt: str) -> None:
    """Error answers carry status="error", a code and a message, in the format asked for."""
    for obs in api.call_many(_error_requests(api, fmt)[:3]):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_error(obs),
            checks.check_error_envelope(obs),
        )


@requirement("ERROR-CODES-DOCUMENTED")
@pytest.mark.parametrize("fmt", FORMATS)
def test_error_codes_are_documented(api: Api, fmt: str) -> None:
    """Each answer must first be a well-formed error: a code is judged only on an answer that has one.

    valid_minutes=abc is also sent: refusing it is not required (it may be read as omitted), but a
    refusal's code is judged like the others.
    """
    reqs = _error_requests(api, fmt)
    observed = api.call_many([*reqs, api.request(valid_minutes="abc", **_fmt(fmt))])
    for obs in observed[: len(reqs)]:
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_error(obs),
            checks.check_error_code_documented(obs),
        )
    lenient = observed[-1]
    api.expect(checks.check_api_response(lenient, fmt), checks.check_error_code_documented(lenient))
