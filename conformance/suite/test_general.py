"""Promises the general documents (index.md, oauth.md) make to every client of every method.

The audit of those documents (docs/requirements.md, "Promises of the general documentation") names
the requirement each promise became; the ones judged here have no home in a method-specific group.
"""

from urllib.parse import urlsplit

from conformance import checks
from conformance.spec import ErrorCode
from conformance.suite.api import Api, requirement

NON_ASCII_URL = "https://example.com/ç/日本?q=😀&e=é"


@requirement("FORMAT-UTF8-LABEL")
def test_answers_are_labelled_utf8_or_not_at_all(api: Api) -> None:
    """A success and an error in each format: every charset label and XML encoding says UTF-8."""
    token = api.request(return_url=NON_ASCII_URL)
    reqs = [
        token,
        token.with_params(format="json"),
        token.but(auth=None),  # an error, answered by whatever layer refuses it
        token.with_params(format="json").but(auth=None),
    ]
    for req, obs in zip(reqs, api.call_many(reqs), strict=True):
        fmt = "json" if req.param("format") == "json" else "xml"
        api.expect(checks.check_api_response(obs, fmt), checks.check_utf8_label(obs))


@requirement("AUTH-REALM-IGNORED")
def test_a_realm_in_the_authorization_header_is_not_signed(api: Api) -> None:
    """Signed with realm="<site root>/" in the Authorization header, as oauth.md's own example request
    is: a token, because the realm is not part of the signature (RFC 5849 3.4.1.3)."""
    parts = urlsplit(api.config.base_url)
    realm = f"{parts.scheme}://{parts.netloc}/"
    reqs = [
        api.request().but(placement="header", realm=realm),
        api.request().but(placement="header", http_method="POST", realm=realm),
    ]
    for obs in api.call_many(reqs):
        api.expect(checks.check_api_response(obs, "xml"), checks.check_status_ok(obs))


@requirement("AUTH-HMAC-SHA1-ONLY")
def test_a_plaintext_signature_is_refused(api: Api) -> None:
    """Signed with the PLAINTEXT method (the secrets themselves as the signature), correctly for that
    method: refused with no token, since HMAC-SHA1 is the only method oauth.md supports."""
    for obs in api.call_many([api.request().but(signature_method="PLAINTEXT")]):
        api.expect(
            checks.check_api_response(obs, "xml"),
            checks.check_error(obs, codes={ErrorCode.INVALID_SIGNATURE, ErrorCode.PERMISSION_DENIED}),
            checks.check_no_token(obs),
        )
