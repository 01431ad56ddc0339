"""BACKGROUND: with background_return_p=1 the target makes the callback itself and answers plain text.

The suite's callback receiver (conformance/transport/receiver.py) stands in for return_url: on
loopback for a local target, or behind callback_base_url; with neither the tests are skipped with
the reason.
"""

from collections.abc import Iterator

import pytest

from conformance.checks import background as bg
from conformance.checks import history as hi
from conformance.checks import redeem as rc
from conformance.suite.api import Api, requirement
from conformance.suite.lifecycle import TRICKY_EXTRA, Lifecycle, return_url_with_state
from conformance.suite.state import RunState
from conformance.transport.receiver import CallbackReceiver, plan_receiver
from conformance.transport.uploads import make_upload


@pytest.fixture(scope="module")
def receiver(run_state: RunState) -> Iterator[CallbackReceiver | str]:
    """One receiver for the module, or the reason there can be none."""
    plan = plan_receiver(run_state.config)
    if isinstance(plan, str):
        yield plan
        return
    try:
        started = CallbackReceiver(plan).start()
    except OSError as exc:
        yield f"the callback receiver could not listen on {plan.bind_host}:{plan.bind_port}: {exc}"
        return
    yield started
    run_state.receiver = started.summary()  # a flood of its port is a warning of the run, in results.json
    started.stop()


def _usable(receiver: CallbackReceiver | str) -> CallbackReceiver:
    if isinstance(receiver, str):
        pytest.skip(receiver)
    return receiver


@requirement("BACKGROUND-CALLBACK")
def test_background_callback_is_made_by_the_target(api: Api, receiver: CallbackReceiver | str) -> None:
    """Answer 'ok <domain> <tree_id> <photo_id> <token> <callback_url>', and that GET really arrives,
    with return_url's query and the extra fields value for value."""
    life = Lifecycle(api)
    rec = _usable(receiver)
    key, url = rec.new_endpoint()
    return_url = return_url_with_state(url, theme="green")
    issued = life.issue(return_url=return_url, background=True)
    before, upload = life.history(), make_upload()
    answer = life.redeem(issued.token, upload, TRICKY_EXTRA)
    waited = api.config.limits.timeout_seconds if answer.outcome == "success" else 0.5
    received = rec.wait_for(key, timeout=waited)
    api.expect(
        rc.check_redeem_answered(answer),
        bg.check_background_ok(answer, issued.photo_id),
        bg.check_background_delivery(answer, received, return_url, issued.token, TRICKY_EXTRA),
        hi.check_history_replaced(before, life.history(), [upload.sha256]),
    )


@requirement("BACKGROUND-ERROR")
def test_background_error_is_an_error_line(api: Api, receiver: CallbackReceiver | str) -> None:
    """A failed background upload (no file) answers 'error <message>'; its callback carries error_message."""
    life = Lifecycle(api)
    rec = _usable(receiver)
    key, url = rec.new_endpoint()
    issued = life.issue(return_url=return_url_with_state(url, theme="green"), background=True)
    before = life.history()
    answer = life.redeem(issued.token, None)
    received = rec.wait_for(key, timeout=min(3.0, api.config.limits.timeout_seconds))
    api.expect(
        rc.check_redeem_answered(answer),
        bg.check_background_error(answer, received),
        hi.check_history_unchanged(before, life.history()),
    )
