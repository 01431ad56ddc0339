"""AUTH: who may get a replace token, and how requests are signed."""

from conformance import checks
from conformance.spec import ErrorCode
from conformance.suite.api import Api, requirement


def _expect_denied(api: Api, auth: str | None, levels: set[str]) -> None:
    for fmt, obs in api.call_both_formats(api.request().but(auth=auth)):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_error(obs, codes={ErrorCode.PERMISSION_DENIED}, permission_levels=levels),
            checks.check_no_token(obs),
        )


def _expect_granted(api: Api, auth: str) -> None:
    for fmt, obs in api.call_both_formats(api.request().but(auth=auth)):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_status_ok(obs),
            checks.check_permission_level(obs, auth),
        )


@requirement("AUTH-UNSIGNED-DENIED")
def test_unsigned_request_is_denied_with_callers_level(api: Api) -> None:
    """An unsigned caller is anonymous (or none): permission_denied, its own level, no token."""
    _expect_denied(api, None, {"anonymous", "none"})


@requirement("AUTH-READ-DENIED")
def test_read_level_is_denied_with_read_level(api: Api) -> None:
    """Read-level credentials are below the method's minimum (write)."""
    api.require_credentials("read")
    _expect_denied(api, "read", {"read"})


@requirement("AUTH-WRITE-GRANTED")
def test_write_level_gets_token_and_reports_write(api: Api) -> None:
    """A write-level caller (the method's minimum) gets a token, and the answer reports level write."""
    _expect_granted(api, "write")


@requirement("AUTH-ADMIN-GRANTED")
def test_admin_level_gets_token_and_reports_admin(api: Api) -> None:
    """An admin caller gets a token too (levels are cumulative) and the answer reports admin."""
    api.require_credentials("admin")
    _expect_granted(api, "admin")


@requirement("AUTH-BAD-SIGNATURE")
def test_bad_signature_is_invalid_signature(api: Api) -> None:
    """A well-formed but wrong HMAC-SHA1 signature, in each placement (sent concurrently)."""
    placements = [("GET", "header"), ("GET", "query"), ("POST", "body")]
    reqs = [api.request().but(tamper=True, http_method=m, placement=p) for m, p in placements]
    for obs in api.call_many(reqs):
        api.expect(
            checks.check_api_response(obs, "xml"),
            checks.check_error(obs, codes={ErrorCode.INVALID_SIGNATURE}),
            checks.check_no_token(obs),
        )


@requirement("AUTH-PLACEMENT-HEADER")
def test_oauth_in_authorization_header(api: Api) -> None:
    """OAuth parameters in the Authorization header are accepted (oauth.md names three places)."""
    obs = api.call(api.request().but(placement="header"))
    api.expect(checks.check_api_response(obs, "xml"), checks.check_status_ok(obs))


@requirement("AUTH-PLACEMENT-QUERY")
def test_oauth_in_get_query(api: Api) -> None:
    """OAuth parameters in a GET query string are accepted."""
    obs = api.call(api.request().but(placement="query", http_method="GET"))
    api.expect(checks.check_api_response(obs, "xml"), checks.check_status_ok(obs))


@requirement("AUTH-PLACEMENT-BODY")
def test_oauth_in_post_body(api: Api) -> None:
    """OAuth parameters in a form-encoded POST body are accepted."""
    obs = api.call(api.request().but(placement="body", http_method="POST"))
    api.expect(checks.check_api_response(obs, "xml"), checks.check_status_ok(obs))


@requirement("AUTH-NONCE-REPLAY")
def test_replayed_nonce_is_refused(api: Api) -> None:
    """The identical signed request (same nonce and timestamp) sent twice: the second is refused."""
    first, second = api.replay(api.request(), times=2)
    api.expect(checks.check_api_response(first, "xml"), checks.check_status_ok(first))
    api.expect(
        checks.check_api_response(second, "xml"),
        checks.check_error(second),
        checks.check_no_token(second),
    )
