"""Benchmark: wall time of a core run against Schemathesis, same target, same machine.

    python benchmarks/bench_schemathesis.py --st /path/to/st [--repeat 3] [--latency-ms 0]

Schemathesis is not a dependency of the project: install it anywhere (``pip install schemathesis
requests-oauthlib`` in a venv of its own) and give its ``st``. Both tools test the same embedded
reference (a fresh one per run), alternately, ``--repeat`` times each; the fastest of each counts.

Schemathesis is configured as a competent user would for this API (benchmarks/schemathesis/):
an OpenAPI description of both HTTP methods with every documented parameter and range, OAuth 1.0a
signing of every request in a hook, its default phases (examples, coverage, fuzzing, stateful)
and ``--max-examples`` (100), every check but the two this API contradicts by design (its errors
are HTTP 200: ``negative_data_rejection``, ``unsupported_method``). The suite runs as the README's
main command does (core profile, default settings).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_core import LatencyRelay, compile_bytecode  # noqa: E402

from conformance.reference.server import ReferenceServer, ReferenceSettings  # noqa: E402
from tests.suite_runs import write_config  # noqa: E402

EXCLUDED_CHECKS = "negative_data_rejection,unsupported_method"


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=cwd)
    return time.monotonic() - start, proc.returncode


def run_schemathesis(st: str, latency_ms: float, tmp: Path, extra: list[str]) -> tuple[float, int]:
    with ReferenceServer(ReferenceSettings()) as server:
        proxy = LatencyRelay(server.base_url, latency_ms / 1000) if latency_ms else None
        url = proxy.url if proxy else server.base_url
        cfg = server.target_config()
        write = cfg["credentials"]["write"]
        spec = (HERE / "schemathesis" / "openapi.yaml").read_text(encoding="utf-8")
        (tmp / "openapi.yaml").write_text(spec.replace("PHOTO_ID", cfg["photo_id"]), encoding="utf-8")
        env = {
            **os.environ,
            "BENCH_OAUTH_CONSUMER_KEY": write["consumer_key"],
            "BENCH_OAUTH_CONSUMER_SECRET": write["consumer_secret"],
            "BENCH_OAUTH_TOKEN": write["access_token"],
            "BENCH_OAUTH_TOKEN_SECRET": write["access_token_secret"],
            "BENCH_BASE_URL": url,
            "SCHEMATHESIS_HOOKS": "hooks",
            "PYTHONPATH": str(HERE / "schemathesis"),
        }
        argv = [st, "run", str(tmp / "openapi.yaml"), "--url", url, "--exclude-checks", EXCLUDED_CHECKS]
        try:
            return _timed([*argv, *extra], env, tmp)  # st keeps its .schemathesis/ in the cwd
        finally:
            if proxy:
                proxy.close()


def run_suite(latency_ms: float, tmp: Path) -> tuple[float, int]:
    with ReferenceServer(ReferenceSettings()) as server:
        proxy = LatencyRelay(server.base_url, latency_ms / 1000) if latency_ms else None
        overrides = {"base_url": proxy.url} if proxy else {}
        cfg = write_config(tmp / "target.toml", server, **overrides)
        argv = [sys.executable, "-m", "conformance", "run", "--config", str(cfg), "--quiet"]
        try:
            return _timed([*argv, "--report-dir", str(tmp / "report")], dict(os.environ), tmp)
        finally:
            if proxy:
                proxy.close()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--st", required=True, help="Schemathesis' st command")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--st-arg", action="append", default=[], help="more options for st run")
    args = parser.parse_args()
    compile_bytecode()
    suite, schemathesis = [], []
    with tempfile.TemporaryDirectory(prefix="bench-st-") as tmp:
        for i in range(args.repeat):  # alternately, so both see the same load
            run_dir = Path(tmp, str(i))
            run_dir.mkdir()
            schemathesis.append(run_schemathesis(args.st, args.latency_ms, run_dir, args.st_arg))
            suite.append(run_suite(args.latency_ms, run_dir))
    for name, runs in (("conformance run", suite), ("schemathesis", schemathesis)):
        walls = ", ".join(f"{w:.1f}" for w, _ in runs)
        print(f"{name:16s} fastest {min(runs)[0]:6.1f} s  (runs: {walls}; exit codes {[c for _, c in runs]})")
    print(f"ratio suite / schemathesis: {min(suite)[0] / min(schemathesis)[0]:.2f}x")


if __name__ == "__main__":
    main()
