"""What a test will send first, known before it runs: its body runs once with nothing sent.

A test's first requests (of every example, for a property test) can go out ahead of the test
(:mod:`.prefetch`) because they depend only on its parameters and Hypothesis' draws, never on an
answer. :func:`plan` runs the test's body with a :class:`PlanningApi` that records the requests of
its first call and stops the body there: nothing is sent, nothing is judged. A property test runs
under Hypothesis as it will for real (same seed, same settings, same explicit examples), with only
the inner body swapped through the documented ``.hypothesis.inner_test`` hook, so it draws the
examples it will draw when it runs. Later calls of a body (which may depend on answers) are never
planned: they are sent when the test makes them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import pytest
from _pytest.outcomes import OutcomeException

from conformance.checks import Observation
from conformance.model.exchange import ApiRequest
from conformance.suite.api import Api
from conformance.suite.prefetch import Chain
from conformance.suite.records import bind_to_item, changes_the_target, item_requirement_ids
from conformance.suite.state import RunState


class Planned(BaseException):
    """Stops a body at its first call once its requests are recorded (not an Exception: a body's
    own ``except Exception`` must not swallow it)."""


class _NoSending:
    """The client a planning body sees: any use of it (redeem uploads, raw sends) stops the body."""

    def __getattr__(self, name: str) -> NoReturn:
        raise Planned


class PlanningApi(Api):
    """An ``api`` handle that records the requests of a body's first call and stops the body."""

    def __init__(self, state: RunState, item: pytest.Item, sink: list[ApiRequest | Chain]) -> None:
        super().__init__(state, _NoSending())  # type: ignore[arg-type]
        bind_to_item(self, item)
        self._sink = sink

    def call(self, req: ApiRequest, fmt: str | None = None) -> Observation:
        self._sink.append(req)
        raise Planned

    def call_many(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        self._sink.extend(reqs)
        raise Planned

    def call_in_order(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        self._sink.append(Chain(tuple(reqs)))
        raise Planned

    def replay(self, req: ApiRequest, times: int = 2) -> list[Observation]:
        raise Planned  # a replay is the same signed bytes again: it is sent when the test runs


def plannable(item: pytest.Item, state: RunState) -> bool:
    """Whether a test's first requests may leave before it runs.

    Only read-only (core) tests that take nothing but ``api`` and their parameters and are not skipped.
    """
    if not isinstance(item, pytest.Function):
        return False
    if any(item.iter_markers("skip")) or any(item.iter_markers("skipif")):
        return False
    if not item_requirement_ids(item) or changes_the_target(item):
        return False  # tests that change the target send when they run
    params = getattr(item, "callspec", None)
    given = set(params.params) if params is not None else set()
    return "api" in item.fixturenames and set(item._fixtureinfo.argnames) <= {"api", *given}


def plan(item: pytest.Item, state: RunState) -> list[ApiRequest | Chain]:
    """The requests of the test's first call (of each example), in the order it will send them.

    Empty when the test is not :func:`plannable`, or when its body fails or skips before its first
    call (it will do the same when it runs, and send nothing ahead of that).
    """
    if not plannable(item, state):
        return []
    assert isinstance(item, pytest.Function)
    sink: list[ApiRequest | Chain] = []
    callspec = getattr(item, "callspec", None)
    kwargs: dict[str, Any] = {"api": PlanningApi(state, item, sink), **(callspec.params if callspec else {})}
    function = item.function
    handle = getattr(function, "hypothesis", None)
    try:
        if handle is None:
            _until_first_call(function)(**kwargs)
        else:
            inner = handle.inner_test
            handle.inner_test = _until_first_call(inner)
            try:
                function(**kwargs)
            finally:
                handle.inner_test = inner
    except (Exception, OutcomeException):
        return []
    return sink


def _until_first_call(body: Callable[..., Any]) -> Callable[..., None]:
    """The body, returning normally at its first call (the example passes; Hypothesis draws the next)."""

    @functools.wraps(body)
    def planning(*args: Any, **kwargs: Any) -> None:
        try:
            body(*args, **kwargs)
        except Planned:
            return

    return planning
