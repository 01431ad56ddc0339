"""Sends the tests' planned first requests ahead of them, so a run's round trips overlap.

A run against a target tens of milliseconds away is bound by round trips made one after another:
each test waits for its own answers, and the next test starts after it. The prefetcher takes what
each test will send first (:mod:`.planning`), in test order, and sends it in the background through
the run's one client (so the request budget, the rate cap, the run deadline, back-pressure and
redaction hold as for every request), keeping at most ``concurrency`` requests of its own in the
client's pool (a test's own requests queue behind at most that many) and at most ``window`` answers
sent ahead of the tests that will take them. When a test sends a request, it takes the answer sent
ahead for the same request if there is one (:meth:`Prefetcher.take`); otherwise the request goes out
then, as it always did. Nothing is judged ahead: the test's checks judge the answers when it runs.

One request planned by several tests (the same logical request: same parameters, method, placement
and credentials level; the signature is made when it leaves) is sent once and its answer judged by
each of them: tests that judge the same request share the answer instead of asking again. A sample
(a test that plans one request several times, for distinct answers: tokens) keeps its own copies;
only its first is shared with tests that plan the request once.

A :class:`Chain` (answers a test compares in the order it asked for them, each asked once the
previous one came back) is sent ahead as one job on one slot: each request of it leaves when the
previous answer arrived, while other tests' requests go on beside it. Its answers are its own. It
leaves next, ahead of the test order: its round trips, one after another, are the longest wait.

A request planned for a test that ends before taking it (a failure, a skip, an example Hypothesis
drew differently) is dropped if it has not left yet; if it has, its exchange is counted as unused.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conformance.model.exchange import ApiRequest, Exchange
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError

NOT_SENT = "not-sent"  # the kind of a chain's answer it did not send (it stopped before, or failed)
UNUSED_PER_SLOT = 4  # answers sent ahead and never judged, per concurrency slot, before it stops


@dataclass(frozen=True)
class Chain:
    """Requests to send one after another, each once the previous answer arrived."""

    requests: tuple[ApiRequest, ...]


@dataclass
class _Planned:
    request: ApiRequest
    waiters: list[str]  # the tests that will take its answer, in test order, until they take it or end
    future: Future[Exchange] | None = None  # set when it leaves
    dropped: bool = False
    taken: bool = False  # some test took its answer
    chain: list[_Planned] | None = None  # on a chain's first request: the whole chain, sent as one job


class SentAheadAnswer(NamedTuple):
    """An answer sent ahead, for a test that asked for its request."""

    future: Future[Exchange]
    shared_further: bool  # another test will judge this same exchange later: keep its body whole


@dataclass
class PrefetchStats:
    """How sending ahead went (results.json's ``run.sent_ahead``, the benchmark)."""

    window: int
    planned: int = 0  # requests the tests' first calls will send
    sent: int = 0  # of them, sent before the test asked
    taken: int = 0  # answers a test took from those sent ahead
    reused: int = 0  # takes of an answer another test took already: each a request not sent again
    unused: int = 0  # sent ahead, never taken (the test ended first, or drew otherwise)
    tests: set[str] = field(default_factory=set)  # tests that had requests planned
    stopped: str | None = None  # why sending ahead stopped before the tests ended

    def facts(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "tests": len(self.tests),
            "planned": self.planned,
            "sent": self.sent,
            "taken": self.taken,
            "reused": self.reused,
            "unused": self.unused,
            "stopped": self.stopped,
        }


class Prefetcher:
    """Sends planned requests in test order on a background thread; thread-safe."""

    def __init__(
        self,
        client: TargetClient,
        window: int,
        attribute: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._client = client
        self._window = window
        self._concurrency = max(1, client.limits.concurrency)
        self._attribute = attribute or (lambda test: nullcontext())
        self._cond = threading.Condition()
        self._queue: deque[_Planned] = deque()
        self._by_test: dict[str, dict[ApiRequest, deque[_Planned]]] = {}
        self._shareable: dict[ApiRequest, _Planned] = {}  # the answer tests planning it once take
        self._in_flight = 0
        self._ahead = 0  # sent, not yet taken
        self._closed = False
        self.stats = PrefetchStats(window)
        self._thread = threading.Thread(target=self._dispatch, name="conformance-send-ahead", daemon=True)
        self._thread.start()

    def add(self, test: str, planned: Sequence[ApiRequest | Chain]) -> None:
        """Queue a test's planned requests behind every test queued before it; a request it plans
        once that another test planned already is not queued again: it takes that one's answer."""
        if not planned:
            return
        requests = [r for r in planned if isinstance(r, ApiRequest)]
        copies = Counter(requests)
        with self._cond:
            by_request = self._by_test.setdefault(test, {})
            for chain in (c for c in planned if isinstance(c, Chain)):
                members = [_Planned(req, [test]) for req in chain.requests]
                members[0].chain = members
                self._queue.appendleft(members[0])  # next to leave: its round trips are the longest wait
                for member in members:
                    by_request.setdefault(member.request, deque()).append(member)
                self.stats.planned += len(members)
            for req in requests:
                shared = self._shareable.get(req) if copies[req] == 1 else None
                if shared is not None:
                    shared.waiters.append(test)
                    by_request.setdefault(req, deque()).append(shared)
                    continue
                planned = _Planned(req, [test])
                self._queue.append(planned)
                self._shareable.setdefault(req, planned)
                by_request.setdefault(req, deque()).append(planned)
            self.stats.planned += len(requests)
            self.stats.tests.add(test)
            self._cond.notify_all()

    def take(self, test: str, request: ApiRequest) -> SentAheadAnswer | None:
        """The answer sent ahead for this request of this test (pending or done), or None: send it now.

        A planned request that has not left yet is taken off the queue (unless another test will
        still take it): the test sends it itself.
        """
        with self._cond:
            waiting = self._by_test.get(test, {}).get(request)
            if not waiting:
                return None
            planned = waiting.popleft()
            planned.waiters.remove(test)
            if planned.future is None:
                planned.dropped = not planned.waiters
                return None
            if _never_left(planned.future):  # a chain's request it gave back: sent by the test now
                if not planned.waiters:
                    self._ahead -= 1
                return None
            if planned.taken:
                self.stats.reused += 1
            else:
                self.stats.taken += 1
            planned.taken = True
            if not planned.waiters:
                self._ahead -= 1
                self._cond.notify_all()
            return SentAheadAnswer(planned.future, bool(planned.waiters))

    def finish(self, test: str) -> None:
        """The test ended: what it did not take is dropped, or counted unused if it was sent.

        Once more than ``UNUSED_PER_SLOT`` answers per concurrency slot went unused (a target
        failing test after test: each failure leaves its later examples' answers unjudged), nothing
        more is sent ahead, so a failing target gets at most that many plus one window of requests
        more than it would have without sending ahead.
        """
        with self._cond:
            for waiting in self._by_test.pop(test, {}).values():
                for planned in waiting:
                    planned.waiters.remove(test)
                    if planned.waiters:
                        continue
                    if planned.future is None:
                        planned.dropped = True
                    else:
                        self._ahead -= 1
                        self.stats.unused += not planned.taken and not _never_left(planned.future)
            if self.stats.unused > UNUSED_PER_SLOT * self._concurrency and not self._closed:
                self.stats.stopped = f"{self.stats.unused} answers sent ahead went unused (tests failed)"
                self._stop()
            self._cond.notify_all()

    def close(self) -> None:
        """Send nothing more; requests already in flight complete in the client's pool."""
        with self._cond:
            self._stop()
        self._thread.join(timeout=5)

    def _stop(self) -> None:
        """Called with the lock held: nothing more leaves; what was sent can still be taken."""
        self._closed = True
        for planned in self._queue:
            planned.dropped = True
        self._queue.clear()
        self._cond.notify_all()

    def _ready(self) -> bool:
        while self._queue and self._queue[0].dropped:
            self._queue.popleft()
        return bool(self._queue) and self._in_flight < self._concurrency and self._ahead < self._window

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._ready())
                if self._closed:
                    return
                planned = self._queue.popleft()
                self._in_flight += 1
                members = planned.chain or [planned]
                self._ahead += len(members)
                self.stats.sent += len(members)
                if planned.chain is not None:  # before the job can start: it resolves them in turn
                    for member in planned.chain:
                        member.future = Future()
                try:
                    job = self._client.submit(
                        self._sender(planned, planned.waiters[0])
                        if planned.chain is None
                        else self._chain_sender(planned.chain, planned.waiters[0])
                    )
                except RuntimeError:  # the client closed (the run ended): a test sends them itself
                    for member in members:
                        member.future = None
                    self._closed = True
                    return
                if planned.chain is None:
                    planned.future = job
            job.add_done_callback(self._landed)

    def _sender(self, planned: _Planned, test: str) -> Callable[[], Exchange]:
        """The job that sends a planned request, for ``test`` (the first that will take the answer)."""

        def send() -> Exchange:
            with self._attribute(test):
                return self._client.send(planned.request)

        return send

    def _chain_sender(self, chain: list[_Planned], test: str) -> Callable[[], None]:
        """The job that sends a chain, each request once the previous answer arrived; it stops
        when sending ahead stops (the run ended, or a failure), leaving the rest to the test."""

        def send() -> None:
            with self._attribute(test):
                for i, member in enumerate(chain):
                    assert member.future is not None
                    if self._closed:
                        self._unsend(chain[i:])
                        return
                    try:
                        member.future.set_result(self._client.send(member.request))
                    except BaseException as exc:  # the test meets it as if it had sent the request
                        member.future.set_exception(exc)
                        self._unsend(chain[i + 1 :])  # a test that goes on past it sends the rest
                        raise

        return send

    def _unsend(self, members: list[_Planned]) -> None:
        """Chain members that will not leave ahead: their answer says "not sent" (no exchange), so
        a test that takes one sends the request itself, as for a request the client refused then."""
        with self._cond:
            self.stats.sent -= len(members)
        for member in members:
            assert member.future is not None
            member.future.set_exception(TransportError("not sent ahead: sending ahead stopped", NOT_SENT))

    def _landed(self, future: Future[Any]) -> None:
        """One request sent ahead ended. A transport failure (a reset, a timeout) or a request the
        client refused to send (request budget, run deadline, circuit breaker) stops sending ahead:
        a failing target gets no more requests than the tests' own, which the breaker paces."""
        failure = None if future.cancelled() else future.exception()
        with self._cond:
            self._in_flight -= 1
            if isinstance(failure, TransportError) and not self._closed:
                verb = "refused" if failure.exchange is None else "failed"
                self.stats.stopped = f"the client {verb} a request: {failure}"
                self._stop()
            self._cond.notify_all()


def _never_left(future: Future[Exchange]) -> bool:
    """A chain's request that sending ahead gave back unsent (:data:`NOT_SENT`)."""
    if not future.done():
        return False
    failure = future.exception()
    return isinstance(failure, TransportError) and failure.kind == NOT_SENT
