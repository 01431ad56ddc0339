"""AUTH: who may get a replace token, and how requests are signed."""

import pytest

from conformance import checks
from conformance.plugin import Api, requirement

FORMATS = ["xml", "json"]


def _fmt_params(fmt: str) -> dict[str, str]:
    return {"format": "json"} if fmt == "json" else {}


@requirement("AUTH-UNSIGNED-DENIED")
@pytest.mark.parametrize("fmt", FORMATS)
def test_unsigned_request_is_denied_with_callers_level(api: Api, fmt: str) -> None:
    """An unsigned caller is anonymous (or none): permission_denied, its own level, no token."""
    r = "AUTH-UNSIGNED-DENIED"
    obs = api.call(api.request(**_fmt_params(fmt)).but(auth=None))
    api.expect(
        checks.check_api_response(obs, fmt, r),
        checks.check_error(obs, r, codes={"permission_denied"}, permission_levels={"anonymous", "none"}),
        checks.check_no_token(obs, r),
    )


@requirement("AUTH-READ-DENIED")
@pytest.mark.parametrize("fmt", FORMATS)
def test_read_level_is_denied_with_read_level(api: Api, fmt: str) -> None:
    """Read-level credentials are below the method's minimum (write)."""
    api.require_credentials("read")
    r = "AUTH-READ-DENIED"
    obs = api.call(api.request(**_fmt_params(fmt)).but(auth="read"))
    api.expect(
        checks.check_api_response(obs, fmt, r),
        checks.check_error(obs, r, codes={"permission_denied"}, permission_levels={"read"}),
        checks.check_no_token(obs, r),
    )


@requirement("AUTH-WRITE-GRANTED")
@pytest.mark.parametrize("fmt", FORMATS)
def test_write_level_gets_token_and_reports_write(api: Api, fmt: str) -> None:
    r = "AUTH-WRITE-GRANTED"
    obs = api.call(api.request(**_fmt_params(fmt)).but(auth="write"))
    api.expect(
        checks.check_api_response(obs, fmt, r),
        checks.check_status_ok(obs, r),
        checks.check_permission_level(obs, "write", r),
    )


@requirement("AUTH-ADMIN-GRANTED")
@pytest.mark.parametrize("fmt", FORMATS)
def test_admin_level_gets_token_and_reports_admin(api: Api, fmt: str) -> None:
    api.require_credentials("admin")
    r = "AUTH-ADMIN-GRANTED"
    obs = api.call(api.request(**_fmt_params(fmt)).but(auth="admin"))
    api.expect(
        checks.check_api_response(obs, fmt, r),
        checks.check_status_ok(obs, r),
        checks.check_permission_level(obs, "admin", r),
    )


@requirement("AUTH-BAD-SIGNATURE")
@pytest.mark.parametrize(("method", "placement"), [("GET", "header"), ("GET", "query"), ("POST", "body")])
def test_bad_signature_is_invalid_signature(api: Api, method: str, placement: str) -> None:
    """A well-formed but wrong HMAC-SHA1 signature, in each placement."""
    r = "AUTH-BAD-SIGNATURE"
    obs = api.call(api.request().but(tamper=True, http_method=method, placement=placement))
    api.expect(
        checks.check_api_response(obs, "xml", r),
        checks.check_error(obs, r, codes={"invalid_signature"}),
        checks.check_no_token(obs, r),
    )


@requirement("AUTH-PLACEMENT-HEADER")
def test_oauth_in_authorization_header(api: Api) -> None:
    r = "AUTH-PLACEMENT-HEADER"
    obs = api.call(api.request().but(placement="header"))
    api.expect(checks.check_api_response(obs, "xml", r), checks.check_status_ok(obs, r))


@requirement("AUTH-PLACEMENT-QUERY")
def test_oauth_in_get_query(api: Api) -> None:
    r = "AUTH-PLACEMENT-QUERY"
    obs = api.call(api.request().but(placement="query", http_method="GET"))
    api.expect(checks.check_api_response(obs, "xml", r), checks.check_status_ok(obs, r))


@requirement("AUTH-PLACEMENT-BODY")
def test_oauth_in_post_body(api: Api) -> None:
    r = "AUTH-PLACEMENT-BODY"
    obs = api.call(api.request().but(placement="body", http_method="POST"))
    api.expect(checks.check_api_response(obs, "xml", r), checks.check_status_ok(obs, r))


@requirement("AUTH-NONCE-REPLAY")
def test_replayed_nonce_is_refused(api: Api) -> None:
    """The identical signed request (same nonce and timestamp) sent twice: the second is refused."""
    r = "AUTH-NONCE-REPLAY"
    first, second = api.replay(api.request(), times=2)
    api.expect(checks.check_api_response(first, "xml", r), checks.check_status_ok(first, r))
    api.expect(
        checks.check_api_response(second, "xml", r),
        checks.check_error(second, r),
        checks.check_no_token(second, r),
    )
