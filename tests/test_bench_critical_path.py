"""benchmarks/bench_critical_path.py: the chain of non-overlapping requests is counted right."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_core import LatencyRelay
from bench_critical_path import busiest_second, critical_path, lifetimes, most_in_flight

from conformance.reference.server import ReferenceServer, ReferenceSettings


def test_overlapping_requests_are_one_step_and_back_to_back_ones_are_two() -> None:
    spans = [
        (0.0, 1.0, "a"),
        (0.2, 1.1, "a"),  # sent with the first: the same round trip
        (1.0, 2.0, "b"),  # starts when the first ended: the next one
        (1.5, 2.5, "b"),
        (2.6, 3.0, "c"),
        (0.1, 2.9, "d"),  # a long one overlapping everything adds no step of its own
    ]
    chain = critical_path(spans)
    assert [test for _, _, test in chain] == ["a", "b", "c"]
    assert critical_path([]) == []


def test_lifetimes_read_start_duration_and_test_from_a_har(tmp_path: Path) -> None:
    entries = [
        {"startedDateTime": "2026-12-07T20:46:11.460Z", "time": 50.5, "_conformance": {"test": "t.py::x"}},
        {"startedDateTime": "2026-12-07T20:46:11.511Z", "time": 20.0},
    ]
    har = tmp_path / "run.har"
    har.write_text(json.dumps({"log": {"entries": entries}}), encoding="utf-8")
    (s1, e1, t1), (s2, e2, t2) = lifetimes(har)
    assert round(e1 - s1, 4) == 0.0505 and t1 == "t.py::x" and t2 == "(preflight)"
    assert round(e2 - s2, 4) == 0.02 and round(s2 - s1, 3) == 0.051
    assert [test for _, _, test in critical_path(lifetimes(har))] == ["t.py::x", "(preflight)"]


def test_the_busiest_second_and_the_most_in_flight() -> None:
    spans = [(0.0, 0.5, "a"), (0.1, 0.2, "a"), (0.15, 0.3, "b"), (0.9, 1.0, "b"), (1.05, 1.1, "c")]
    assert busiest_second(spans) == 4  # 0.0 to 1.0; 1.05 is in the next second
    assert most_in_flight(spans) == 3  # at 0.15
    assert busiest_second([]) == most_in_flight([]) == 0


def test_the_relay_adds_its_latency_to_each_request_on_a_kept_connection() -> None:
    """What the +latency benchmarks rest on: each round trip costs the latency, and the client's
    connection stays open across requests although the reference closes every one of its own."""
    with ReferenceServer(ReferenceSettings()) as server:
        relay = LatencyRelay(server.base_url, 0.05)
        try:
            with requests.Session() as session:
                times, answers = [], []
                for _ in range(3):
                    start = time.monotonic()
                    answers.append(session.get(f"{relay.url}/api/photo/get-replace-token"))
                    times.append(time.monotonic() - start)
                pools = session.get_adapter(relay.url).poolmanager.pools
                opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 (not iterable)
        finally:
            relay.close()
    assert all(a.status_code == 200 and b"<response" in a.content for a in answers)
    assert opened == 1  # one connection for the three requests
    assert times[0] >= 0.1  # the handshake's round trip, then the request's
    assert all(t >= 0.05 for t in times[1:]), times  # a round trip each
