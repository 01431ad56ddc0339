"""Benchmark: merging many results.json files into matrix.json and matrix.html.

    python benchmarks/bench_matrix.py [--runs 24] [--jobs 2] [--scale 500] [--out DIR] [--reuse]

1. Generates ``--runs`` results files from REAL runs (``conformance run``, core profile,
   ``--max-examples 1``, a different seed each) against the embedded reference, each conformant
   variant and some faults in rotation, each on its own server. No file is a copy of another.
2. Measures ``conformance matrix`` merging 5, 10, ... all of them (time, HTML and JSON size) and
   fits the per-file cost, extrapolating to ``--scale`` files.
3. Also merges ``--scale`` columns drawn from the real files in rotation (so every column is a real
   run, but only ``--runs`` of them are distinct) to measure the page at that width directly.

Prints one line per measurement; the README records the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.commands.selftest import all_cases  # noqa: E402
from conformance.reference.server import (  # noqa: E402
    ReferenceServer,
    ReferenceSettings,
    write_target_config,
)
from conformance.report.matrix import load_implementation, write_matrix  # noqa: E402


def generate(out: Path, runs: int, jobs: int, reuse: bool) -> list[Path]:
    """``runs`` real runs, rotating over the reference, the variants and the core faults."""
    cases = [c for c in all_cases("core") if c.needs_profile == "core"]
    plan = [(i, cases[i % len(cases)]) for i in range(runs)]

    def one(item: tuple[int, object]) -> Path:
        i, case = item
        run_dir = out / f"{i:03d}-{case.kind}-{case.name}"
        results = run_dir / "results.json"
        if reuse and results.is_file():
            return results
        settings = ReferenceSettings(
            clock_control=True,
            faults=frozenset([case.name]) if case.kind == "fault" else frozenset(),
            variant=case.name if case.kind == "variant" else None,
        )
        with tempfile.TemporaryDirectory() as tmp, ReferenceServer(settings) as server:
            config = Path(tmp) / "target.toml"
            write_target_config(server, config)
            cmd = [sys.executable, "-m", "conformance", "run", "--config", str(config), "--report-dir"]
            cmd += [str(run_dir), "--max-examples", "1", "--seed", str(1000 + i), "--quiet"]
            subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        return results

    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    with (
        open(out / "servers.log", "w", encoding="utf-8") as log,
        contextlib.redirect_stderr(log),  # the in-process servers' messages
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        paths = [p for p in pool.map(one, plan) if p.is_file()]
    print(f"generated {len(paths)} results files from real runs in {time.monotonic() - started:.0f}s")
    return paths


def merge(paths: list[Path], out: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    impls = [load_implementation(p, out) for p in paths]
    json_path, html_path, _ = write_matrix(impls, out)
    seconds = time.perf_counter() - started
    return seconds, html_path.stat().st_size, json_path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale", type=int, default=500)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse results already in --out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        out = Path(args.out or tmp)
        paths = generate(out / "runs", args.runs, args.jobs, args.reuse)
        sizes = sorted({*range(5, len(paths), 5), len(paths)})
        merge(paths[:2], out / "warm-up")  # imports and template compilation, once
        rows = []
        for n in sizes:
            seconds, html, js = merge(paths[:n], out / f"matrix-{n}")
            rows.append((n, seconds, html, js))
            print(
                f"merge {n:>4} real files: {seconds:6.3f}s, matrix.html {html / 1e6:6.2f} MB, "
                f"matrix.json {js / 1e6:6.2f} MB"
            )
        (n0, t0, h0, _), (n1, t1, h1, _) = rows[0], rows[-1]
        per_file = (t1 - t0) / max(n1 - n0, 1)
        per_html = (h1 - h0) / max(n1 - n0, 1)
        estimate = t1 + per_file * (args.scale - n1)
        print(
            f"per file: {per_file * 1000:.1f} ms, {per_html / 1000:.1f} KB of HTML -> {args.scale} files "
            f"extrapolated: {estimate:.2f}s, {(h1 + per_html * (args.scale - n1)) / 1e6:.2f} MB of HTML"
        )
        rotated = [paths[i % len(paths)] for i in range(args.scale)]
        seconds, html, js = merge(rotated, out / f"matrix-{args.scale}")
        print(
            f"merge {args.scale} columns ({len(paths)} distinct real files in rotation): {seconds:.2f}s, "
            f"matrix.html {html / 1e6:.2f} MB, matrix.json {js / 1e6:.2f} MB"
        )
        started = time.perf_counter()  # the same through the command line, interpreter start included
        cmd = [sys.executable, "-m", "conformance", "matrix", *map(str, rotated)]
        subprocess.run([*cmd, "--report-dir", str(out / "cli")], check=True, capture_output=True)
        print(
            f"conformance matrix with {args.scale} files (command line): {time.perf_counter() - started:.2f}s"
        )
        summary = {"runs": len(paths), "rows": rows, "scale": args.scale, "scale_seconds": seconds}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
