"""A front's back-pressure: which answers are "come back later", and how long to wait before re-sending.

Staging and production APIs sit behind rate limiters. ``HTTP 429 Too Many Requests`` (any) and
``503 Service Unavailable`` *with* ``Retry-After`` are the front saying the request was not handled
yet, not the API's answer to it: the client waits as told (RFC 9110, section 10.2.3: delay-seconds or an
HTTP-date; without the header, exponential backoff with a cap) and sends the request again.

Where the limits end, who is to blame:

- A plain 503 without ``Retry-After`` is the target's failure (a 5xx), as before.
- A front that keeps refusing one request (``MAX_ATTEMPTS`` throttled answers in a row, each wait
  done as told) is the target's failure too: the documents promise an answer to every request,
  and a client that waited as told still got none. The last throttled answer goes to the checks
  (HTTP-STATUS-200 names it). After ``GIVE_UP_STREAK`` such requests in a row the front is taken
  as not recovering and later throttled answers go to the checks without waiting.
- A wait the run cannot make (past the run deadline, or longer than ``MAX_WAIT_SECONDS`` for one
  request) is the run's limit, not the target's failure: the test is not verified (INCOMPLETE).
"""

from __future__ import annotations

import email.utils
import time

from conformance.model.exchange import RecordedResponse

MAX_ATTEMPTS = 6  # throttled answers one request may get before its last one is handed to the checks
MAX_WAIT_SECONDS = 60.0  # total waiting one request may do; beyond it the request is not verified
BACKOFF_FIRST_SECONDS = 0.5  # without Retry-After: 0.5, 1, 2, 4, ... s
BACKOFF_CAP_SECONDS = 16.0
GIVE_UP_STREAK = 3  # requests in a row that gave up: the front is not recovering, stop waiting
SLOWDOWN = 0.5  # a throttle halves the run's pace (at most once per SLOWDOWN_EVERY seconds)
SLOWDOWN_EVERY = 1.0
SLOWDOWN_AFTER = 4  # ... and only once this many requests went out at the slower pace
SLOWDOWN_MIN_PACE = 4  # requests in the last second: below this pace a throttle is waited out only
MIN_RATE = 2.0  # requests per second: the run never slows below this


def is_throttle(response: RecordedResponse | None) -> bool:
    """A 429, or a 503 that says when to come back: back-pressure, not an answer to the request."""
    if response is None:
        return False
    return response.status == 429 or (response.status == 503 and response.header("Retry-After") is not None)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:9]))  # an absurd number of digits is simply "very long"
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(attempt: int) -> float:
    """The wait before re-send number ``attempt`` (0-based) when the front gave no Retry-After."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2**attempt)


def throttle_phrase(count: int, waited: float) -> str:
    """ "throttled 37 times, waited 41 s": how the run's throttling reads everywhere."""
    return f"throttled {count} time{'s' if count != 1 else ''}, waited {waited:.0f} s"
