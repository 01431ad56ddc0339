"""Benchmark: wall time and requests of the core profile against the embedded reference,
directly and behind a relay that adds latency to every round trip.

    python benchmarks/bench_core.py [--latency-ms 50] [--repeat 1] [--max-examples N]

Prints one line per configuration; the README records the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.reference.server import ReferenceServer, ReferenceSettings  # noqa: E402
from tests.suite_runs import write_config  # noqa: E402


class LatencyRelay:
    """A keep-alive HTTP/1.1 front, in a process of its own, that adds ``latency_s`` to every request.

    It models a server that far away behind the usual keep-alive front: half the latency before a
    request goes on, half before its answer comes back, and one more round trip for each new client
    connection (the TCP handshake). Upstream, each request gets a fresh loopback connection, since
    the reference (werkzeug) closes every connection after its answer; the answer's
    ``Connection: close`` is dropped so that the client keeps its connection, as it would with a
    front. An asyncio loop that copies bytes costs next to no CPU, so the run's own work is what
    competes with the reference for the cores. (The earlier relay re-sent every request with
    ``requests`` on threads in the benchmark's own process, beside the reference: under
    concurrency its CPU and the GIL showed up as latency, 80-130 ms per request at "+50 ms".)
    """

    def __init__(self, upstream: str, latency_s: float) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        ours, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("fork").Process(
            target=_relay_main, args=(host, int(port), latency_s, theirs), daemon=True
        )
        self.process.start()
        self.url = f"http://127.0.0.1:{ours.recv()}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


def _relay_main(host: str, port: int, latency_s: float, report: Any) -> None:
    asyncio.run(_relay(host, port, latency_s / 2, report))


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _keep_alive(answer: bytes) -> bytes:
    head, sep, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join(lines) + sep + body


async def _relay(host: str, port: int, one_way_s: float, report: Any) -> None:
    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * one_way_s)  # the handshake's round trip
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await client_r.readuntil(b"\r\n\r\n")
                request = head + await client_r.readexactly(_content_length(head))
                await asyncio.sleep(one_way_s)
                server_r, server_w = await asyncio.open_connection(host, port)
                server_w.write(request)
                answer = await server_r.readuntil(b"\r\n\r\n")
                if not request.startswith(b"HEAD "):
                    answer += await server_r.readexactly(_content_length(answer))
                server_w.close()  # the reference closes after each answer (10 ms later: not waited for)
                await asyncio.sleep(one_way_s)
                client_w.write(_keep_alive(answer))
                await client_w.drain()
        client_w.close()

    relay = await asyncio.start_server(serve, "127.0.0.1", 0, limit=1 << 20)
    report.send(relay.sockets[0].getsockname()[1])
    async with relay:
        await relay.serve_forever()


def compile_bytecode() -> None:
    """Write the suite's bytecode as ``pip install`` does, so that runs import it instead of compiling
    every module from source (0.3 s a run where PYTHONDONTWRITEBYTECODE is set, as in some sandboxes).
    The package ``python -m conformance`` imports is the one in the working directory, if any."""
    for package in {ROOT / "conformance", Path.cwd() / "conformance"}:
        if package.is_dir():
            compileall.compile_dir(package, quiet=1, legacy=False)


def run_once(latency_ms: float, extra: list[str]) -> tuple[float, int, int]:
    with ReferenceServer(ReferenceSettings()) as server, tempfile.TemporaryDirectory() as tmp:
        proxy = LatencyRelay(server.base_url, latency_ms / 1000) if latency_ms else None
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
    compile_bytecode()
    extra = ["--max-examples", str(args.max_examples)] if args.max_examples else []
    for latency in (0.0, args.latency_ms):
        for _ in range(args.repeat):
            elapsed, sent, code = run_once(latency, extra)
            print(f"latency {latency:5.0f} ms: wall {elapsed:6.1f} s, requests {sent}, exit {code}")


if __name__ == "__main__":
    main()
