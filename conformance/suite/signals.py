"""SIGINT and SIGTERM end a run the way Ctrl-C does, so the reports are still written."""

from __future__ import annotations

import signal
import threading
from typing import Any

from conformance.suite.state import RunState


class InterruptSignals:
    """SIGINT and SIGTERM (a CI cancel) stop the run as Ctrl-C does, so the reports are still written.

    The first signal raises KeyboardInterrupt in the main thread (pytest then ends the session and
    calls ``pytest_sessionfinish``) and records which signal it was. A later one while the results
    are being written is ignored; before that it interrupts again.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, state: RunState) -> None:
        self.state = state
        self._previous: dict[int, Any] = {}
        self._held = False  # a signal now is acted on at act(): the run is not ready to report yet
        self._pending = False

    def install(self, *, held: bool = False) -> InterruptSignals:
        self._held = held
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def act(self) -> None:
        """Stop holding signals: one that arrived while they were held interrupts now."""
        self._held = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt(self.state.interrupted)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.state.interrupted is None:
            self.state.interrupted = signal.Signals(signum).name
        if self.state.finishing:
            return
        if self._held:
            self._pending = True
            return
        client = self.state.client
        if client is not None and client.in_flight() and not client.interrupt_pending:
            client.interrupt_pending = True  # the first signal lets the request in flight finish
            return
        raise KeyboardInterrupt(self.state.interrupted)  # no request in flight, or a second signal
