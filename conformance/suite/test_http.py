"""HTTP: status codes and request methods."""

from conformance import checks
from conformance.model.exchange import ApiRequest
from conformance.parse.observation import Observation
from conformance.spec import INPUT_REFUSAL, MAX_UPLOADS, PHOTO_REFUSAL, VALID_MINUTES, ErrorCode
from conformance.suite import strategies
from conformance.suite.api import Api, requirement


@requirement("HTTP-STATUS-200")
def test_success_and_errors_are_http_200(api: Api) -> None:
    """A success and the usual errors (unsigned, bad signature, missing photo) all answer HTTP 200."""
    base = api.request()
    reqs = [
        base,
        base.but(auth=None),
        base.but(tamper=True),
        base.with_params(photo_id=None),
        base.with_params(format="json"),
        base.with_params(format="json").but(auth=None),
    ]
    for obs in api.call_many(reqs):
        api.expect(checks.check_http_status_200(obs), checks.check_no_server_error(obs))


@requirement("HTTP-GET-AND-POST")
def test_get_and_post_give_the_same_token_terms(api: Api) -> None:
    """The same parameters by GET and by POST give the same token terms and echo."""
    req = api.request(valid_minutes="45", max_uploads="3", return_url=strategies.PINNED_RETURN_URLS[0])
    get, post = api.call_many([req.but(http_method="GET"), req.but(http_method="POST")])
    for obs in (get, post):
        api.expect(
            checks.check_api_response(obs, "xml"),
            checks.check_status_ok(obs),
            checks.check_numeric_field(obs, "valid_minutes", 45),
            checks.check_numeric_field(obs, "max_uploads", 3),
            checks.check_echo(obs, req),
        )


def _post_with_query(api: Api, req: ApiRequest) -> Observation:
    """Send a POST that carries API parameters in its URL query, signed the way the target accepts.

    Servers differ on whether a POST's query belongs in the OAuth base string; the suite first
    signs it in (strict OAuth 1.0a) and, only if that is refused as invalid_signature, signs without.
    """
    obs = api.call(req, "xml")
    if obs.attr("code") == ErrorCode.INVALID_SIGNATURE:
        obs = api.call(req.but(sign_query_on_post=False), "xml")
    return obs


@requirement("HTTP-POST-IGNORES-QUERY")
def test_post_does_not_use_query_parameters(api: Api) -> None:
    """format/valid_minutes/max_uploads in the query of a POST: ignored (XML, defaults) or refused.

    Refusing such a POST as input (invalid_input) is as conformant as ignoring the query (the
    documents say such parameters do not work); the refusal is in the default XML: the query's
    format is not used. Any other error (invalid_signature after both signings, permission_denied)
    is a finding: the request is signed right at write level.
    """
    query = (("format", "json"), ("valid_minutes", "20"), ("max_uploads", "5"))
    obs = _post_with_query(api, api.request().but(http_method="POST", query_on_post=query))
    api.expect(checks.check_api_response(obs, "xml"))
    if obs.ok:
        api.expect(
            checks.check_numeric_field(obs, "valid_minutes", VALID_MINUTES.default),
            checks.check_numeric_field(obs, "max_uploads", MAX_UPLOADS.default),
        )
    else:
        api.expect(checks.check_error(obs, codes=INPUT_REFUSAL), checks.check_no_token(obs))


@requirement("HTTP-POST-IGNORES-QUERY")
def test_post_with_photo_id_only_in_query_issues_no_token(api: Api) -> None:
    """photo_id only in the query of a POST is not used: no photo (invalid_input or no_such_photo, as for
    a missing photo_id) or the POST refused as input, and no token."""
    req = (
        api.request()
        .with_params(photo_id=None)
        .but(http_method="POST", query_on_post=(("photo_id", api.config.photo_id),))
    )
    obs = _post_with_query(api, req)
    api.expect(
        checks.check_api_response(obs, "xml"),
        checks.check_error(obs, codes=PHOTO_REFUSAL),
        checks.check_no_token(obs),
    )
