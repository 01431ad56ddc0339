"""Names the test that is sending, for the HAR of the run (:mod:`conformance.report.har`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from conformance.report.har import HarRecorder
from conformance.suite.records import item_requirement_ids


class HarCapture:
    """A pytest plugin: while a test runs, the HAR recorder attributes each exchange to it."""

    def __init__(self, recorder: HarRecorder) -> None:
        self.recorder = recorder
        self._requirements: dict[str, tuple[str, ...]] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._requirements = {item.nodeid: tuple(item_requirement_ids(item)) for item in session.items}

    def sending_for(self, nodeid: str) -> AbstractContextManager[None]:
        """Attribute what the calling thread sends meanwhile to this test (a request sent ahead)."""
        return self.recorder.sending_for(nodeid, self._requirements.get(nodeid, ()))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.recorder.current = (item.nodeid, tuple(item_requirement_ids(item)))
        try:
            yield
        finally:
            self.recorder.current = ("(between tests)", ())
