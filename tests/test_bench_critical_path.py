"""benchmarks/bench_critical_path.py: the chain of non-overlapping requests is counted right."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_critical_path import critical_path, lifetimes


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
