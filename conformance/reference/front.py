"""A rate-limiting front before the reference's API (``front_rate``): the shape of staging and production.

A token bucket of ``front_burst`` requests, refilled at ``front_rate`` per second, guards both API
methods; an empty bucket is answered ``429 Too Many Requests`` with ``Retry-After`` (whole seconds
until a token is back) before the API logic runs, so the request was not handled at all. The test
hooks are not behind it. Two faults model a front that is the target's failure: one that never
lets anything through, and one that drops requests with a plain 503 and no ``Retry-After``.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .context import text_response

FRONT_503_EVERY = 7  # front_503_no_retry_after: one request in this many is dropped


class Front:
    """The token bucket one server's API sits behind; thread-safe."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._tokens = float(behaviour.front_burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._count = itertools.count(1)

    def refuse(self, now: int) -> Response | None:
        """The front's answer when it does not let this API request through; None lets it pass."""
        b = self.behaviour
        if b.fault("front_never_recovers"):
            return self._throttled(1, now)
        if b.fault("front_503_no_retry_after") and next(self._count) % FRONT_503_EVERY == 0:
            return text_response("Service Unavailable", now, 503)
        if b.front_rate <= 0:
            return None
        with self._lock:
            t = time.monotonic()
            self._tokens = min(float(b.front_burst), self._tokens + (t - self._last) * b.front_rate)
            self._last = t
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            wait = (1.0 - self._tokens) / b.front_rate
        return self._throttled(max(1, math.ceil(wait)), now)

    @staticmethod
    def _throttled(seconds: int, now: int) -> Response:
        response = text_response("Too Many Requests", now, 429)
        response.headers["Retry-After"] = str(seconds)
        return response
