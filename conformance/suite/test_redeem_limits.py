"""LIMITS and EXPIRY: a token allows exactly max_uploads replacements, and none after valid_until.

Every token here has a return_url, so a success (a callback without error_message) can be told
apart from a refusal (a plain error) by the documented answers alone.
"""

import time

import pytest

from conformance.checks import callback as cb
from conformance.checks import history as hi
from conformance.checks import redeem as rc
from conformance.suite.api import Api, requirement
from conformance.suite.lifecycle import RETURN_URL, Lifecycle
from conformance.transport.uploads import make_upload

EXPIRY_MARGIN = 60  # seconds kept away from valid_until on either side (clock granularity, round trips)


@requirement("LIMITS-MAX-UPLOADS")
@pytest.mark.parametrize("max_uploads", [1, 3])
def test_exactly_max_uploads_redemptions_succeed(api: Api, max_uploads: int) -> None:
    """max_uploads sequential uploads succeed; the next one is a plain error and replaces nothing."""
    life = Lifecycle(api)
    issued = life.issue(return_url=RETURN_URL, max_uploads=max_uploads)
    before = life.history()
    uploads = [make_upload() for _ in range(max_uploads + 1)]
    answers = [life.redeem(issued.token, u) for u in uploads]
    for answer in answers:
        api.expect(rc.check_redeem_answered(answer))
    api.expect(
        rc.check_success_count(answers[:-1], max_uploads),
        rc.check_plain_error(answers[-1]),
        hi.check_history_replaced(before, life.history(), [u.sha256 for u in uploads[:-1]]),
    )


@requirement("LIMITS-CONCURRENT")
@pytest.mark.parametrize(("max_uploads", "fired"), [(1, 8), (3, 10)])
def test_concurrent_redemptions_honour_max_uploads(api: Api, max_uploads: int, fired: int) -> None:
    """Redemptions fired at the same moment: exactly max_uploads succeed (a check-then-update race fails)."""
    life = Lifecycle(api)
    fired *= api.budget.race_factor
    issued = life.issue(return_url=RETURN_URL, max_uploads=max_uploads)
    before = life.history()
    uploads = [make_upload() for _ in range(fired)]
    answers = life.redeem_concurrently(issued.token, uploads)
    for answer in answers:
        api.expect(rc.check_redeem_answered(answer))
    won = [u.sha256 for u, a in zip(uploads, answers, strict=True) if a.outcome == "success"]
    api.expect(
        rc.check_success_count(answers, max_uploads),
        *(rc.check_plain_error(a) for a in answers if a.outcome != "success"),
        hi.check_history_replaced(before, life.history(), won),
    )


@requirement("EXPIRY-REFUSED")
def test_token_is_refused_after_valid_until(api: Api) -> None:
    """Usable until valid_until, refused with a plain error after it.

    With clock_control_url the target's clock is moved (seconds of real time); without it the test
    waits the real 15 minutes and only runs with --include-slow.
    """
    life = Lifecycle(api)
    if not life.clock_control and not api.state.include_slow:
        pytest.skip("expiry test needs --include-slow or clock_control_url")
    issued = life.issue(return_url=RETURN_URL, max_uploads=3, valid_minutes=15)
    first = life.redeem(issued.token, make_upload())
    api.expect(
        rc.check_redeem_answered(first), cb.check_success_callback(first, issued.token, issued.photo_id)
    )
    if life.clock_control:
        life.advance_clock(int(life.seconds_until_expiry(issued)) - EXPIRY_MARGIN)
        still = life.redeem(issued.token, make_upload())
        api.expect(
            rc.check_redeem_answered(still),
            cb.check_success_callback(still, issued.token, issued.photo_id),
        )
        life.advance_clock(2 * EXPIRY_MARGIN)
    else:
        wait = life.seconds_until_expiry(issued) + EXPIRY_MARGIN
        limits = api.config.limits
        if time.time() - api.state.started + wait > limits.run_deadline_seconds - 30:
            pytest.skip(
                f"the real-time expiry wait ({wait:.0f}s) does not fit in the run deadline; raise "
                "--deadline / [limits] run_deadline_seconds (e.g. to 1800)"
            )
        time.sleep(wait)
    life.expect_refused(issued.token)
