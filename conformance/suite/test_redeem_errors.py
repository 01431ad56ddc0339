"""REDEEM-ERRORS: unknown and consumed tokens get a plain error; a missing file is an error too.

None of them may replace anything: judged by the answer (no success callback) and, where the
target has a reference-style /_test/photo hook, by its unchanged history.
"""

import secrets

import pytest

from conformance.checks import callback as cb
from conformance.checks import history as hi
from conformance.checks import redeem as rc
from conformance.suite.api import Api, requirement
from conformance.suite.lifecycle import RETURN_URL, Lifecycle
from conformance.transport.uploads import make_upload


def _altered(token: str) -> str:
    last = token[-1:] or "0"
    return token[:-1] + ("1" if last == "0" else "0")


@requirement("REDEEM-ERROR-UNKNOWN")
@pytest.mark.parametrize("kind", ["random-hex", "altered-issued", "issued-plus-suffix", "injection"])
def test_unknown_token_is_a_plain_error(api: Api, kind: str) -> None:
    """A token the target never issued (or one character off one it did): plain error, nothing replaced."""
    life = Lifecycle(api)
    if kind == "random-hex":
        token = secrets.token_hex(20)
    elif kind == "injection":
        token = "' OR '1'='1"
    else:
        issued = life.issue(return_url=RETURN_URL).token
        token = _altered(issued) if kind == "altered-issued" else issued + "0"
    life.expect_refused(token)


@requirement("REDEEM-ERROR-CONSUMED")
def test_consumed_token_is_a_plain_error(api: Api) -> None:
    """max_uploads=1: the first upload succeeds, a second one with the same token is a plain error."""
    life = Lifecycle(api)
    issued = life.issue(return_url=RETURN_URL, max_uploads=1)
    first = life.redeem(issued.token, make_upload())
    api.expect(
        rc.check_redeem_answered(first), cb.check_success_callback(first, issued.token, issued.photo_id)
    )
    life.expect_refused(issued.token)


@requirement("REDEEM-ERROR-MISSING-FILE")
@pytest.mark.parametrize("file_part", ["empty", "absent"])
@pytest.mark.parametrize("with_return_url", [True, False], ids=["return_url", "no-return_url"])
def test_missing_file_is_an_error(api: Api, file_part: str, with_return_url: bool) -> None:
    """No file: an error callback with error_message (plain error without return_url); nothing replaced."""
    life = Lifecycle(api)
    issued = life.issue(return_url=RETURN_URL if with_return_url else None)
    before = life.history()
    answer = life.redeem(issued.token, None, empty_file_part=file_part == "empty")
    judged = (
        cb.check_error_callback(answer, issued.token) if with_return_url else rc.check_plain_error(answer)
    )
    api.expect(rc.check_redeem_answered(answer), judged, hi.check_history_unchanged(before, life.history()))
