"""Benchmark: the critical path of a core run, the sequential round trips that latency multiplies.

    python benchmarks/bench_critical_path.py [--latency-ms 50] [--seed 1] [--repeat N] [--json FILE]
        [--run-arg=--send-ahead=0 ...]

Runs ``conformance run`` (core, default settings, a fixed seed) against the embedded reference,
directly and behind the +latency relay of ``bench_core.py``. For each it reports wall time,
requests and the critical path: the longest chain of requests whose lifetimes do not overlap (each
starts after the previous one ended), i.e. the round trips that had to happen one after another,
and which tests contribute them. Lifetimes come from the run's own HAR (``--har``: start, duration
and the test that sent each request); wall time comes from a second run without ``--har``, so
writing the HAR does not count. The ratio is the relayed wall time over the direct one: a run bound
by its critical path takes about ``round trips x latency`` longer behind the relay.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import LatencyRelay, compile_bytecode  # noqa: E402

from conformance.reference.server import ReferenceServer, ReferenceSettings  # noqa: E402
from tests.suite_runs import write_config  # noqa: E402

# HAR start times have millisecond resolution: a request that starts within this of the previous
# one's end is still counted as after it.
TOLERANCE_S = 0.0015


@dataclass
class Run:
    latency_ms: float
    wall_s: float
    requests: int
    exit_code: int
    chain: int = 0
    chain_by_test: Counter[str] = field(default_factory=Counter)
    requests_by_test: Counter[str] = field(default_factory=Counter)
    peak_per_second: int = 0  # most requests started within any one second: the rate a target sees
    most_in_flight: int = 0
    median_s: float = 0.0  # of the plain runs (wall_s is the fastest)


def _run(latency_ms: float, seed: int, report_dir: Path, extra: list[str]) -> tuple[float, int, int]:
    """One ``conformance run`` in a subprocess, behind the relay when latency_ms > 0."""
    with ReferenceServer(ReferenceSettings()) as server:
        proxy = LatencyRelay(server.base_url, latency_ms / 1000) if latency_ms else None
        overrides = {"base_url": proxy.url} if proxy else {}
        cfg = write_config(report_dir / "target.toml", server, **overrides)
        argv = [sys.executable, "-m", "conformance", "run", "--config", str(cfg)]
        argv += ["--report-dir", str(report_dir), "--quiet", "--seed", str(seed), *extra]
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True)
        elapsed = time.monotonic() - start
        if proxy:
            proxy.close()
    results = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    return elapsed, results["run"]["requests_sent"], proc.returncode


def lifetimes(har: Path) -> list[tuple[float, float, str]]:
    """(start, end, test) of every request in a HAR file, in seconds since the epoch."""
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    spans = []
    for entry in entries:
        start = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
        test = entry.get("_conformance", {}).get("test") or "(preflight)"
        spans.append((start, start + float(entry["time"]) / 1000, test))
    return spans


def critical_path(spans: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The longest chain of requests whose lifetimes do not overlap (greedy by earliest end is optimal)."""
    chain: list[tuple[float, float, str]] = []
    last_end = float("-inf")
    for span in sorted(spans, key=lambda s: s[1]):
        if span[0] >= last_end - TOLERANCE_S:
            chain.append(span)
            last_end = span[1]
    return chain


def busiest_second(spans: list[tuple[float, float, str]]) -> int:
    """The most requests started within any one second: the rate the target had to take."""
    starts = sorted(start for start, _, _ in spans)
    return max((bisect.bisect_left(starts, s + 1.0) - i for i, s in enumerate(starts)), default=0)


def most_in_flight(spans: list[tuple[float, float, str]]) -> int:
    """The most requests sent and not yet answered at one moment."""
    return max((sum(1 for a, b, _ in spans if a <= s < b) for s, _, _ in spans), default=0)


def measure(latencies: tuple[float, ...], seed: int, repeat: int, run_args: list[str]) -> list[Run]:
    """A Run per latency: the fastest of ``repeat`` plain runs, the latencies alternating so that
    each sees the same machine (a shared or virtual one drifts), then one traced run each."""
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        walls: dict[float, list[tuple[float, int, int]]] = {latency: [] for latency in latencies}
        for i in range(repeat):
            for latency in latencies:
                (plain := Path(tmp, f"plain-{latency:g}-{i}")).mkdir()
                walls[latency].append(_run(latency, seed, plain, run_args))
        runs = []
        for latency in latencies:
            run = Run(latency, *min(walls[latency]))
            run.median_s = statistics.median(wall for wall, _, _ in walls[latency])
            (traced := Path(tmp, f"traced-{latency:g}")).mkdir()
            _run(latency, seed, traced, [*run_args, "--har", str(traced / "run.har")])
            spans = lifetimes(traced / "run.har")
            chain = critical_path(spans)
            run.chain = len(chain)
            run.peak_per_second = busiest_second(spans)
            run.most_in_flight = most_in_flight(spans)
            run.chain_by_test = Counter(test for _, _, test in chain)
            run.requests_by_test = Counter(test for _, _, test in spans)
            runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="plain runs per latency, alternating; the fastest counts"
    )
    parser.add_argument("--top", type=int, default=15, help="tests listed by their share of the path")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--run-arg", action="append", default=[], help="for conformance run, e.g. --run-arg=--send-ahead=0"
    )
    args = parser.parse_args()
    compile_bytecode()
    runs = measure((0.0, args.latency_ms), args.seed, args.repeat, args.run_arg)
    direct, relayed = runs
    for run in runs:
        print(
            f"latency {run.latency_ms:4.0f} ms: wall {run.wall_s:6.1f} s, requests {run.requests}, "
            f"sequential round trips {run.chain}, exit {run.exit_code}"
        )
        busiest, in_flight = run.peak_per_second, run.most_in_flight
        print(f"  {busiest} requests started in the busiest second, {in_flight} in flight at most")
    ratio = relayed.wall_s / direct.wall_s
    extra = relayed.wall_s - direct.wall_s
    print(f"ratio +{args.latency_ms:.0f} ms / direct: {ratio:.2f}x (+{extra:.1f} s)", end="")
    medians = relayed.median_s / direct.median_s
    print(f"; of the medians {relayed.median_s:.1f} s / {direct.median_s:.1f} s = {medians:.2f}x")
    print(f"round trips x latency: {relayed.chain * args.latency_ms / 1000:.1f} s of the +{extra:.1f} s")
    print(f"\ntests on the critical path (+{args.latency_ms:.0f} ms run): round trips / requests")
    for test, count in relayed.chain_by_test.most_common(args.top):
        print(f"  {count:4d} / {relayed.requests_by_test[test]:4d}  {test}")
    rest = relayed.chain - sum(c for _, c in relayed.chain_by_test.most_common(args.top))
    print(f"  {rest:4d}  in {max(0, len(relayed.chain_by_test) - args.top)} other tests")
    if args.json:
        figures = {
            "seed": args.seed,
            "ratio": round(ratio, 3),
            "runs": [
                {
                    "latency_ms": r.latency_ms,
                    "wall_s": round(r.wall_s, 2),
                    "median_s": round(r.median_s, 2),
                    "requests": r.requests,
                    "exit_code": r.exit_code,
                    "round_trips": r.chain,
                    "peak_requests_per_second": r.peak_per_second,
                    "most_in_flight": r.most_in_flight,
                    "round_trips_by_test": dict(r.chain_by_test.most_common()),
                }
                for r in runs
            ],
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
