"""Benchmark: wall time and requests of the core profile against the embedded reference,
directly and behind a proxy that adds latency to every request.

    python benchmarks/bench_core.py [--latency-ms 50] [--repeat 1] [--max-examples N]

Prints one line per configuration; the README records the figures.
"""

from __future__ import annotations

import argparse
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.reference.server import ReferenceServer, ReferenceSettings  # noqa: E402
from tests.suite_runs import write_config  # noqa: E402


class LatencyProxy:
    """A threaded HTTP proxy that sleeps before forwarding each request (Host header preserved)."""

    def __init__(self, upstream: str, latency_s: float) -> None:
        session_local = threading.local()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no delayed-ACK stalls between headers and body

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                time.sleep(latency_s)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                session = getattr(session_local, "s", None) or requests.Session()
                session_local.s = session
                resp = session.request(
                    self.command,
                    upstream + self.path,
                    data=body,
                    headers=dict(self.headers.items()),
                    allow_redirects=False,
                )
                payload = resp.content
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def run_once(latency_ms: float, extra: list[str]) -> tuple[float, int, int]:
    with ReferenceServer(ReferenceSettings()) as server, tempfile.TemporaryDirectory() as tmp:
        proxy = LatencyProxy(server.base_url, latency_ms / 1000) if latency_ms else None
        overrides = {"base_url": proxy.url} if proxy else {}
        cfg = write_config(Path(tmp) / "t.toml", server, **overrides)
        start = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance",
                "run",
                "--config",
                str(cfg),
                "--report-dir",
                tmp,
                "--quiet",
                "--seed",
                "1",
                *extra,
            ],
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - start
        if proxy:
            proxy.close()
        results = json.loads((Path(tmp) / "results.json").read_text())
        return elapsed, results["run"]["requests_sent"], proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args()
    extra = ["--max-examples", str(args.max_examples)] if args.max_examples else []
    for latency in (0.0, args.latency_ms):
        for _ in range(args.repeat):
            elapsed, sent, code = run_once(latency, extra)
            print(f"latency {latency:5.0f} ms: wall {elapsed:6.1f} s, requests {sent}, exit {code}")


if __name__ == "__main__":
    main()
