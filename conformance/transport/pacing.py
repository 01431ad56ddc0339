"""The run's politeness toward the target: request budget, run deadline, rate cap, circuit breaker.

One :class:`Pacer` per run, shared by every thread: it admits each request before it leaves and
accounts for each outcome, so the limits hold whatever the tests do and however the target fails.
Its :class:`ClientStats` go into results.json.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from conformance.config import RunLimits
from conformance.model.exchange import Exchange
from conformance.transport.errors import BudgetExhausted, TransportError

MAX_CONSECUTIVE_TRANSPORT_ERRORS = 3
MAX_RECORDED_FAILURES = 100


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


class RateLimiter:
    """A simple shared pacing gate: at most ``rate`` request starts per second (0 = off)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)


class Pacer:
    """Budget, deadline, rate cap and circuit breaker for one run; thread-safe.

    The breaker opens after ``MAX_CONSECUTIVE_TRANSPORT_ERRORS`` consecutive transport failures;
    while open, one probe per ``cooldown`` seconds finds out whether the target is back.
    """

    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self.stats = ClientStats()
        self.deadline = time.monotonic() + limits.run_deadline_seconds
        self.cooldown = max(5.0, 3 * limits.timeout_seconds)
        self._lock = threading.Lock()
        self._rate = RateLimiter(limits.requests_per_second)
        self._consecutive_failures = 0
        self._open_until = 0.0
        self._probing = False

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
            elif time.monotonic() > self.deadline:
                refusal = self._past_deadline()
            elif self._consecutive_failures >= MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                if self._probing or time.monotonic() < self._open_until:
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
        self._rate.wait()
        with self._lock:
            if time.monotonic() > self.deadline:  # the deadline passed while waiting for a rate slot
                self.stats.sent -= 1
                self.stats.not_sent += 1
                raise self._past_deadline()
            if retry:
                self.stats.retries += 1

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
                    self._open_until = time.monotonic() + self.cooldown
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

    def deadline_passed(self) -> bool:
        """True once the run deadline has passed: nothing more is sent."""
        if time.monotonic() > self.deadline:
            with self._lock:
                self.stats.deadline_exceeded = True
            return True
        return False

    def reset_circuit(self) -> None:
        with self._lock:
            self._consecutive_failures = 0
            self._probing = False
