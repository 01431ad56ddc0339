"""The run's politeness toward the target: request budget, run deadline, rate cap, circuit breaker.

It also takes a front's back-pressure (:mod:`.backpressure`): after a throttled answer every request
waits until the front's ``Retry-After`` has passed, and the rate cap drops to half the pace that
was throttled, so the rest of the run is not throttled again and again.

One :class:`Pacer` per run, shared by every thread: it admits each request before it leaves and
accounts for each outcome, so the limits hold whatever the tests do and however the target fails.
Its :class:`ClientStats` go into results.json.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from conformance.config import RunLimits
from conformance.model.exchange import Exchange, RecordedResponse
from conformance.transport import backpressure as bp
from conformance.transport.errors import BudgetExhausted, TransportError

MAX_CONSECUTIVE_TRANSPORT_ERRORS = 3
MAX_RECORDED_FAILURES = 100


class Clock(Protocol):
    """Where the pacer reads the time and waits: the real clock, or a test's (logic, not timing)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """``time.monotonic`` and ``time.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


REAL_CLOCK = RealClock()


@dataclass
class ClientStats:
    sent: int = 0
    retries: int = 0
    transport_errors: int = 0
    timeouts: int = 0
    oversize: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0  # refused before sending: budget spent, run deadline passed, circuit open
    circuit_opened: bool = False
    deadline_exceeded: bool = False
    budget_exhausted: bool = False
    # The first transport failures (which request, what happened), for results.json.
    failures: list[dict[str, Any]] = field(default_factory=list)
    # A front's back-pressure (429, 503 + Retry-After): never a finding, counted here.
    throttled: int = 0  # throttled answers received
    throttle_wait_seconds: float = 0.0  # time spent waiting them out
    throttle_gave_up: int = 0  # requests whose last throttled answer went to the checks
    throttle_rate: float | None = None  # the requests/s the run slowed down to, if it did

    def throttle_summary(self) -> str:
        """ "throttled 37 times, waited 41 s", or "" when the target never throttled the run."""
        return bp.throttle_phrase(self.throttled, self.throttle_wait_seconds) if self.throttled else ""


class RateLimiter:
    """A simple shared pacing gate: at most ``rate`` request starts per second (0 = off)."""

    def __init__(self, rate: float, clock: Clock = REAL_CLOCK) -> None:
        self._clock = clock
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Request starts per second allowed now; 0 = uncapped."""
        return 1.0 / self._interval if self._interval else 0.0

    def slow_to(self, rate: float) -> None:
        """Lower the cap (never raise it): a front throttled the run."""
        with self._lock:
            if rate > 0 and (not self._interval or 1.0 / rate > self._interval):
                self._interval = 1.0 / rate

    def restore(self, rate: float) -> None:
        """Back to the run's own cap: slowing down did not help."""
        with self._lock:
            self._interval = 1.0 / rate if rate > 0 else 0.0

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        delay = start - now
        if delay > 0:
            self._clock.sleep(delay)


class Pacer:
    """Budget, deadline, rate cap and circuit breaker for one run; thread-safe.

    The breaker opens after ``MAX_CONSECUTIVE_TRANSPORT_ERRORS`` consecutive transport failures;
    while open, one probe per ``cooldown`` seconds finds out whether the target is back.
    """

    def __init__(self, limits: RunLimits, clock: Clock = REAL_CLOCK) -> None:
        self.limits = limits
        self.stats = ClientStats()
        self._clock = clock
        self.deadline = clock.monotonic() + limits.run_deadline_seconds
        self.cooldown = max(5.0, 3 * limits.timeout_seconds)
        self._lock = threading.Lock()
        self._rate = RateLimiter(limits.requests_per_second, clock)
        self._consecutive_failures = 0
        self._open_until = 0.0
        self._probing = False
        self._hold_until = 0.0  # a front's Retry-After: no request starts before it
        self._starts: deque[float] = deque(maxlen=1024)  # recent request starts, to measure the pace
        self._last_slowdown = float("-inf")
        self._give_up_streak = 0

    def _past_deadline(self) -> TransportError:
        self.stats.deadline_exceeded = True
        return TransportError(
            f"run deadline of {self.limits.run_deadline_seconds:g}s passed; request not sent", "deadline"
        )

    def admit(self, *, retry: bool = False) -> None:
        """Enforce budget, deadline and the circuit breaker before a request leaves; then pace it."""
        with self._lock:
            refusal: TransportError | None = None
            if self.stats.sent >= self.limits.request_budget:
                self.stats.budget_exhausted = True
                refusal = BudgetExhausted(
                    f"request budget of {self.limits.request_budget} requests exhausted; request not sent",
                    "budget",
                )
            elif self._clock.monotonic() > self.deadline:
                refusal = self._past_deadline()
            elif self._consecutive_failures >= MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                if self._probing or self._clock.monotonic() < self._open_until:
                    refusal = TransportError(
                        f"not sent: the target failed {self._consecutive_failures} requests in a row "
                        f"(transport errors); the suite stops hammering it "
                        f"(one probe per {self.cooldown:g}s)",
                        "circuit_open",
                    )
                else:
                    self._probing = True  # half-open: this one request finds out whether the target is back
            if refusal is not None:
                self.stats.not_sent += 1
                raise refusal
            self.stats.sent += 1
            hold = self._hold_until - self._clock.monotonic()
        if hold > 0:  # the front asked the whole client to come back later
            self._clock.sleep(min(hold, max(0.0, self.deadline - self._clock.monotonic())))
        self._rate.wait()
        with self._lock:
            if self._clock.monotonic() > self.deadline:  # the deadline passed while waiting for a rate slot
                self.stats.sent -= 1
                self.stats.not_sent += 1
                raise self._past_deadline()
            if retry:
                self.stats.retries += 1
            self._starts.append(self._clock.monotonic())

    def succeeded(self, *, oversize: bool = False) -> None:
        """An answer arrived: the breaker closes."""
        with self._lock:
            self._consecutive_failures = 0
            self._probing = False
            if oversize:
                self.stats.oversize += 1

    def failed(self, kind: str, exchange: Exchange, *, counts: bool = True) -> None:
        """Account for a transport failure; ``counts=False``: it is about to be retried (one failure)."""
        with self._lock:
            if counts or self._probing:
                self._consecutive_failures += 1
                if self._consecutive_failures >= MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                    self.stats.circuit_opened = True
                    self._open_until = self._clock.monotonic() + self.cooldown
                    self._probing = False
            self.stats.transport_errors += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            if kind == "timeout":
                self.stats.timeouts += 1
            if len(self.stats.failures) < MAX_RECORDED_FAILURES:
                self.stats.failures.append(
                    {
                        "exchange": exchange.id,
                        "kind": kind,
                        "error": exchange.error,
                        "method": exchange.method,
                        "url": exchange.url,
                        "logical": exchange.request.describe() if exchange.request else None,
                        "retry": exchange.retried,
                    }
                )

    def backpressure(self, response: RecordedResponse | None, attempt: int, waited: float) -> float | None:
        """Seconds to wait before re-sending a request the front throttled; None: hand the answer over.

        ``attempt`` counts the throttled answers this request already got, ``waited`` the seconds
        it already waited. None for an answer that is not back-pressure, and for the
        ``MAX_ATTEMPTS``-th throttled answer in a row (the front keeps refusing: the checks judge
        it). A wait the run cannot make (past the run deadline: kind ``deadline``; past what one
        request may wait: kind ``throttled``) raises a TransportError without an exchange: the
        request is not verified, which is never the target's failure.
        """
        throttled = bp.is_throttle(response)
        with self._lock:
            if not throttled:
                self._give_up_streak = 0
                return None
            assert response is not None
            self.stats.throttled += 1
            told = bp.retry_after_seconds(response.header("Retry-After"))
            delay = told if told is not None else bp.backoff_seconds(attempt)
            if attempt + 1 >= bp.MAX_ATTEMPTS or self._give_up_streak >= bp.GIVE_UP_STREAK:
                self._give_up_streak += 1
                self.stats.throttle_gave_up += 1
                if self._give_up_streak == bp.GIVE_UP_STREAK:  # the front is not recovering:
                    self._rate.restore(self.limits.requests_per_second)  # going slowly gains nothing
                return None
            now = self._clock.monotonic()
            if now + delay > self.deadline:
                self.stats.deadline_exceeded = True
                raise TransportError(
                    f"run deadline of {self.limits.run_deadline_seconds:g}s would pass while waiting "
                    f"{delay:.0f}s as the target's front asked (HTTP {response.status}, Retry-After); "
                    "request not sent again",
                    "deadline",
                )
            if waited + delay > bp.MAX_WAIT_SECONDS:
                raise TransportError(
                    f"the target's front asked to wait {delay:.0f}s more (HTTP {response.status}, "
                    f"Retry-After), past the {bp.MAX_WAIT_SECONDS:g}s one request may wait; "
                    "request not sent again",
                    "throttled",
                )
            until = now + delay
            self.stats.throttle_wait_seconds += max(0.0, until - max(self._hold_until, now))  # wall time
            self._hold_until = max(self._hold_until, until)
            self._slow_down(now)
            return delay

    def _slow_down(self, now: float) -> None:
        """Halve the pace that was throttled (once per burst of throttles); called under the lock."""
        if self.stats.throttle_rate is not None:  # one burst of throttles is one slowdown, and the
            since = sum(1 for t in self._starts if t > self._last_slowdown)  # slower pace is tried first
            if now - self._last_slowdown < bp.SLOWDOWN_EVERY or since < bp.SLOWDOWN_AFTER:
                return
        cap = self._rate.rate or float("inf")
        if self.stats.throttle_rate is None or cap == float("inf"):  # half the pace the run went at
            recent = sum(1 for t in self._starts if now - t <= 1.0)
            if recent < bp.SLOWDOWN_MIN_PACE:
                return  # the run was not going fast: its pace is not what the front limits
            cap = min(cap, float(recent))
        self._last_slowdown = now
        self._rate.slow_to(max(bp.MIN_RATE, cap * bp.SLOWDOWN))
        self.stats.throttle_rate = round(self._rate.rate, 2)

    def deadline_passed(self) -> bool:
        """True once the run deadline has passed: nothing more is sent."""
        if self._clock.monotonic() > self.deadline:
            with self._lock:
                self.stats.deadline_exceeded = True
            return True
        return False

    def reset_circuit(self) -> None:
        with self._lock:
            self._consecutive_failures = 0
            self._probing = False
