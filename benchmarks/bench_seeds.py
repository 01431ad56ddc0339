"""Benchmark: does fault detection depend on the seed? The self-test's faults under several seeds.

    python benchmarks/bench_seeds.py [--seeds 1 2 3 4 5] [--profile core|full] [--fault NAME ...]
                                     [--jobs 2] [--report-dir DIR]

For each seed it runs ``conformance selftest --seed N --jobs J`` on the faults only (naming the
faults skips the clean reference and the variants), then prints, per fault, under which seeds it
was detected, and the count of faults detected under every seed (the goal: all of them). A fault
missed under some seed is a defect class that only some Hypothesis draws reach: pin an example for
it (docs/performance.md, "Detection across seeds"). Heavy: about one core-profile run per fault
and seed (~70 runs a seed); ``--fault`` narrows it to a subset.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.reference.faults import FAULT_LIST  # noqa: E402


def run_seed(seed: int, faults: list[str], args: argparse.Namespace) -> dict[str, bool]:
    """One self-test of ``faults`` under ``seed``: fault name -> detected."""
    out = Path(args.report_dir) / f"seed-{seed}"
    cmd = [
        sys.executable,
        "-m",
        "conformance",
        "selftest",
        "--seed",
        str(seed),
        "--jobs",
        str(args.jobs),
        "--profile",
        args.profile,
        "--report-dir",
        str(out),
        *(a for name in faults for a in ("--fault", name)),
    ]
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    matrix = json.loads((out / "selftest.json").read_text(encoding="utf-8"))
    return {c["name"]: bool(c["ok"]) for c in matrix["cases"] if c["kind"] == "fault"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--profile", choices=("core", "full"), default="core")
    parser.add_argument("--fault", action="append", default=[], help="only this fault (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--report-dir", default="/tmp/bench-seeds")
    args = parser.parse_args()
    faults = args.fault or [f.name for f in FAULT_LIST if args.profile == "full" or f.profile == "core"]
    results: dict[int, dict[str, bool]] = {}
    t0 = time.monotonic()
    for seed in args.seeds:
        t = time.monotonic()
        results[seed] = run_seed(seed, faults, args)
        found, took = sum(results[seed].values()), time.monotonic() - t
        print(f"seed {seed}: {found}/{len(faults)} faults detected ({took:.0f} s)", flush=True)
    always = [f for f in faults if all(results[s].get(f, False) for s in args.seeds)]
    for f in faults:
        missed = [s for s in args.seeds if not results[s].get(f, False)]
        if missed:
            print(f"  {f}: missed under seed(s) {', '.join(map(str, missed))}")
    print(
        f"detected under every one of {len(args.seeds)} seeds: {len(always)}/{len(faults)} faults "
        f"({args.profile} profile, --jobs {args.jobs}, {time.monotonic() - t0:.0f} s)"
    )
    return 0 if len(always) == len(faults) else 1


if __name__ == "__main__":
    raise SystemExit(main())
