"""A front's back-pressure (429, 503 + Retry-After) on real loopback servers: waited out, re-sent, counted.

The client-level tests pin the mechanism (re-signed re-sends, Retry-After in both forms, the
per-request bounds, the run's slowdown); the run-level tests show what a user sees: a throttling
front costs time, never a finding, and a budget or deadline it spends leaves the run INCOMPLETE.
"""

from __future__ import annotations

import email.utils
import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
import requests

from conformance.config import TargetConfig, parse_config
from conformance.model.exchange import ApiRequest
from conformance.reference import ReferenceServer, ReferenceSettings
from conformance.spec import GET_REPLACE_TOKEN
from conformance.spec import REDEEM_REPLACE_TOKEN as REDEEM
from conformance.transport import backpressure as bp
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError
from conformance.transport.pacing import Pacer
from tests.hostile import (
    Ctx,
    HostileServer,
    Received,
    api_only,
    distinctive_credentials,
    run_conformance,
    secret_env,
    write_config,
)
from tests.reference_helpers import PHOTO_ID

CREDS = distinctive_credentials("b")
ENV = secret_env(CREDS)
TOKEN = ApiRequest(params=(("photo_id", "123456"),))
_NONCE = re.compile(r'oauth_nonce="([^"]*)"')


def config(base_url: str, **limits: Any) -> TargetConfig:
    return parse_config(
        {
            "base_url": base_url,
            "photo_id": "123456",
            "limits": limits,
            "credentials": {level: c.as_table() for level, c in CREDS.items()},
        }
    )


def throttle(retry_after: str | None = "0", status: int = 429) -> Any:
    """A behaviour: the front refuses with ``status`` (and ``Retry-After`` unless None)."""

    def behaviour(ctx: Ctx) -> None:
        headers = [("Content-Type", "text/plain")]
        if retry_after is not None:
            headers.append(("Retry-After", retry_after))
        ctx.respond(b"Too Many Requests", status=status, headers=headers)

    return behaviour


def first_n(n: int, bad: Any) -> Any:
    """The first ``n`` requests get ``bad``, the rest reach the reference behind the front."""
    seen = itertools.count()
    lock = threading.Lock()

    def behaviour(ctx: Ctx) -> None:
        with lock:
            i = next(seen)
        (bad if i < n else Ctx.forward)(ctx)

    return behaviour


class TokenBucket:
    """A rate limiter's bucket: ``burst`` requests at once, refilled at ``rate`` a second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens = rate, burst, float(burst)
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class SkippedWaits:
    """The real clock, except that every wait the pacer asks for is skipped (added to the reading).

    For tests about which requests are sent, not when: the pacer's logic runs unchanged, its
    slowdowns cost no wall time. Never behind the real clock, so a request's own timeout holds.
    """

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


def skipping_waits(client: TargetClient) -> SkippedWaits:
    """Give ``client`` a fresh pacer on a :class:`SkippedWaits` clock (before it sends anything)."""
    clock = SkippedWaits()
    client.pacer = Pacer(client.limits, clock)
    return clock


def nonce(req: Received) -> str | None:
    found = _NONCE.search(req.header("Authorization") or "")
    return found.group(1) if found else req.param("oauth_nonce")


# ------------------------------------------------------------------ the client
def test_a_throttled_request_is_re_sent_signed_afresh_and_answered() -> None:
    with HostileServer(first_n(2, throttle("0")), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        exchange = client.send(TOKEN)
    assert exchange.response is not None and exchange.response.status == 200
    assert b'status="ok"' in exchange.response.body  # the reference's answer, not the front's
    assert hs.count == 3
    nonces = [nonce(r) for r in hs.received]
    assert None not in nonces and len(set(nonces)) == 3, nonces  # each re-send signed afresh
    stats = client.stats
    assert stats.throttled == 2 and stats.sent == 3 and stats.retries == 0 and stats.transport_errors == 0
    assert stats.throttle_rate is None  # one request at a time is not a pace to slow down from


def test_an_http_date_retry_after_is_waited_out() -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # second resolution: 1..2 s away
    with HostileServer(first_n(1, throttle(when)), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        exchange = client.send(TOKEN)
    assert exchange.response is not None and exchange.response.status == 200
    gap = hs.received[1].at - hs.received[0].at
    assert 0.9 < gap < 3.0, gap
    assert client.stats.throttled == 1 and 0.9 < client.stats.throttle_wait_seconds < 2.1


def test_without_retry_after_a_429_backs_off_exponentially() -> None:
    with HostileServer(first_n(2, throttle(None)), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        exchange = client.send(TOKEN)
    assert exchange.response is not None and exchange.response.status == 200
    gaps = [b.at - a.at for a, b in itertools.pairwise(hs.received)]
    first, second = bp.backoff_seconds(0), bp.backoff_seconds(1)
    assert gaps[0] >= first * 0.9 and gaps[1] >= second * 0.9 and second == 2 * first, gaps


def test_a_front_that_never_lets_a_request_through_is_bounded_and_its_answer_judged() -> None:
    with HostileServer(throttle("0")) as hs:
        client = TargetClient(config(hs.base_url))
        t0 = time.monotonic()
        exchange = client.send(TOKEN)
        elapsed = time.monotonic() - t0
    # the last throttled answer goes to the checks (HTTP-STATUS-200 judges it), after MAX_ATTEMPTS
    assert exchange.response is not None and exchange.response.status == 429
    assert hs.count == bp.MAX_ATTEMPTS and elapsed < 5
    assert client.stats.throttle_gave_up == 1


def test_requests_stop_waiting_once_the_front_does_not_recover() -> None:
    with HostileServer(throttle("0")) as hs:
        client = TargetClient(config(hs.base_url))
        clock = skipping_waits(client)  # the run slows down to MIN_RATE: seconds of pacing, skipped
        for _ in range(bp.GIVE_UP_STREAK + 2):
            client.send(TOKEN)
    # GIVE_UP_STREAK requests waited their MAX_ATTEMPTS; after that each is sent once
    assert hs.count == bp.GIVE_UP_STREAK * bp.MAX_ATTEMPTS + 2
    assert clock.skipped > 1 and client.stats.throttle_rate is not None  # the pacing did happen


def test_a_retry_after_longer_than_a_request_may_wait_leaves_it_unverified() -> None:
    """Not the target's failure (the front promised service later): the test is not verified."""
    with HostileServer(throttle("3000")) as hs:
        client = TargetClient(config(hs.base_url, run_deadline_seconds=3600))
        t0 = time.monotonic()
        with pytest.raises(TransportError) as info:
            client.send(TOKEN)
        assert time.monotonic() - t0 < 2
    assert info.value.kind == "throttled" and info.value.exchange is None and hs.count == 1
    assert bp.MAX_WAIT_SECONDS < 3000


def test_a_wait_past_the_run_deadline_is_the_deadline_not_the_target() -> None:
    with HostileServer(throttle("30")) as hs:
        client = TargetClient(config(hs.base_url, run_deadline_seconds=5))
        with pytest.raises(TransportError) as info:
            client.send(TOKEN)
    assert info.value.kind == "deadline" and "Retry-After" in str(info.value)
    assert hs.count == 1 and client.stats.deadline_exceeded


def test_a_plain_503_is_the_targets_answer_but_503_with_retry_after_is_back_pressure() -> None:
    with HostileServer(first_n(1, throttle(None, status=503)), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        plain = client.send(TOKEN)
    assert plain.response is not None and plain.response.status == 503 and hs.count == 1
    assert client.stats.throttled == 0
    with HostileServer(first_n(1, throttle("0", status=503)), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        told = client.send(TOKEN)
    assert told.response is not None and told.response.status == 200 and hs.count == 2


def test_a_replay_re_sends_the_same_signed_bytes() -> None:
    """send_built (replays, redemptions): the front did not handle it, so the same request goes again."""
    with HostileServer(first_n(1, throttle("0")), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        first, second = client.replay(TOKEN, times=2)
    assert hs.count == 3 and len({r.header("Authorization") for r in hs.received}) == 1
    assert first.response is not None and b'status="ok"' in first.response.body  # the API saw it once
    assert second.response is not None and b"invalid_signature" in second.response.body  # the replay


def test_after_a_throttle_the_run_is_paced_below_what_was_throttled() -> None:
    burst = 12
    seen = itertools.count()

    def behaviour(ctx: Ctx) -> None:
        (throttle("0") if next(seen) == burst - 1 else Ctx.forward)(ctx)  # the burst's last one

    with HostileServer(behaviour, upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        client.send_many([TOKEN] * burst)
        rate = client.stats.throttle_rate
        assert rate is not None and bp.MIN_RATE <= rate <= burst * bp.SLOWDOWN
        later = client.send_many([TOKEN] * 5)
    starts = sorted(e.started_at for e in later)  # the client's starts: server arrivals bunch under load
    assert len(starts) == 5 and (starts[-1] - starts[0]) >= 4 / rate * 0.9


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # in the past: go now
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert bp.retry_after_seconds(value) == expected


# ------------------------------------------------------------------ whole runs
def test_a_run_whose_budget_goes_to_a_throttling_front_is_incomplete(tmp_path: Path) -> None:
    """A token-bucket front (20 a second, bursts of 5): the budget runs out, nothing blamed on the target."""
    bucket = TokenBucket(rate=20.0, burst=5)

    def behaviour(ctx: Ctx) -> None:
        (Ctx.forward if not api_only(ctx.req) or bucket.take() else throttle("0"))(ctx)

    with HostileServer(behaviour, upstream=True, credentials=CREDS) as hs:
        cfg = write_config(tmp_path / "target.toml", hs.base_url, CREDS)
        out = run_conformance(
            tmp_path, cfg, "--max-examples", "3", "--request-budget", "30", "-k", "format or http", env=ENV
        )
    run, summary = out.results["run"], out.results["summary"]
    assert out.code == 4 and summary["verdict"] == "INCOMPLETE", out.stdout[-3000:]
    assert summary["must_failed"] == [] and run["budget_exhausted"]
    assert run["throttled"] >= 1 and run["throttle_gave_up"] == 0 and run["throttle_rate"] < 20
    assert "while the target's front throttled the run (throttled" in summary["cut_short"]
    assert {g["cause"] for g in summary["unverified"]} >= {"budget"}
    phrase = bp.throttle_phrase(run["throttled"], run["throttle_wait_seconds"])  # "1 time" or "N times"
    assert phrase in out.stdout
    junit = SafeET.parse(out.report_dir / "junit.xml")
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["conformance.throttled"] == str(run["throttled"])
    assert f"front {phrase}" in (out.report_dir / "report.html").read_text()


def test_a_front_asking_for_more_than_the_deadline_leaves_the_run_incomplete(tmp_path: Path) -> None:
    healthy = itertools.count()

    def behaviour(ctx: Ctx) -> None:
        (Ctx.forward if not api_only(ctx.req) or next(healthy) < 20 else throttle("120"))(ctx)

    with HostileServer(behaviour, upstream=True, credentials=CREDS) as hs:
        cfg = write_config(tmp_path / "target.toml", hs.base_url, CREDS)
        out = run_conformance(
            tmp_path, cfg, "--max-examples", "3", "--deadline", "30", "-k", "format or http", env=ENV
        )
    summary = out.results["summary"]
    assert out.code == 4 and summary["must_failed"] == [], out.stdout[-3000:]
    assert out.results["run"]["deadline_exceeded"] and out.elapsed < 30
    assert "deadline" in {g["cause"] for g in summary["unverified"]}


def test_a_redemption_the_front_throttled_is_re_sent_unchanged() -> None:
    """The redeem side (--profile full): a 429 means the redemption was not handled; same body again."""
    with HostileServer(first_n(1, throttle("0")), upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url))
        exchange = client.post_multipart(REDEEM, [("replace_token", "not-a-token")], None)
    assert hs.count == 2 and hs.received[0].body == hs.received[1].body and hs.received[0].body
    assert exchange.response is not None and exchange.response.status == 200  # the reference's plain error
    assert client.stats.throttled == 1


def test_the_reference_front_answers_429_with_retry_after_before_the_api() -> None:
    """The rate_limited_front variant: a burst past the bucket gets the front's answer, never the API's."""
    server = ReferenceServer(ReferenceSettings(variant="rate_limited_front"))
    answers: list[requests.Response] = []
    with server, ThreadPoolExecutor(max_workers=12) as pool:
        # Unsigned GETs (the front comes before OAuth; cheap to send, so faster than the bucket of
        # 20 refills at 30 a second even on a loaded machine); bursts until the front answers.
        url = server.base_url + GET_REPLACE_TOKEN + f"?photo_id={PHOTO_ID}"
        for _ in range(10):
            answers += pool.map(lambda _: requests.get(url, timeout=30), range(80))
            if any(r.status_code == 429 for r in answers):
                break
    throttled = [r for r in answers if r.status_code == 429]
    assert throttled and len(throttled) < len(answers), [r.status_code for r in answers]
    assert all(int(r.headers["Retry-After"]) >= 1 and r.text == "Too Many Requests" for r in throttled)
    assert {r.status_code for r in answers} == {200, 429}
