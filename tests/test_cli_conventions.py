"""CLI conventions of ``conformance run``: --version, help, --requirement, --max-failures, proxies, --header.

Every run here is real: the suite against the reference server on loopback, and, for the proxy
options, through a tiny forward proxy that counts what it relays. The target then has a name that
only the proxy can resolve, so a run that ignored the proxy could not reach it at all.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance import __version__
from conformance.catalog import catalog_sha256
from conformance.commands.cli import build_parser
from conformance.reference.server import ReferenceServer, ReferenceSettings
from tests.suite_runs import conformance, conformance_argv, conformance_in_process, run_suite, write_config

QUICK = ("--max-examples", "2", "--settings", "polite", "--seed", "5")
PROXIED_HOST = "conformance-target.test"  # resolvable only by the proxy below
GATEWAY_VALUE = "gw-7f3a91c2-deadbeef-secret"


class _ForwardProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, absolute URI, headers
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    """Relays absolute-URI requests to 127.0.0.1 on the URI's port, whatever the host name."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args: object) -> None:
        pass

    def _relay(self) -> None:
        server: _ForwardProxy = self.server  # type: ignore[assignment]
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        with server.lock:
            server.seen.append((self.command, self.path, headers))
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=30)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        upstream.request(self.command, target, body=body or None, headers=headers)
        resp = upstream.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = _relay


@pytest.fixture
def proxy() -> Iterator[_ForwardProxy]:
    server = _ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceServer]:
    with ReferenceServer(ReferenceSettings(clock_control=True)) as server:
        yield server


@pytest.fixture
def named_reference() -> Iterator[ReferenceServer]:
    """A reference server whose public base URL names a host only the proxy resolves."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ReferenceServer(
        ReferenceSettings(port=port, public_url=f"http://{PROXIED_HOST}:{port}", clock_control=True)
    ).start()
    yield server
    server.stop()


def _results(report: Path) -> dict:
    return json.loads((report / "results.json").read_text(encoding="utf-8"))


def test_version_names_suite_version_and_catalog_digest() -> None:
    out = conformance("--version")
    assert out.returncode == 0
    first, *rest = out.stdout.strip().splitlines()
    assert first == f"conformance {__version__} (catalog sha256 {catalog_sha256()})"
    # then Python and every runtime dependency with the version it runs with (not the test extras)
    shown = dict(line.split() for line in rest)
    assert shown["python"] == platform.python_version()
    assert shown["pytest"] == metadata.version("pytest") and shown["cryptography"] == metadata.version(
        "cryptography"
    )
    assert "check-jsonschema" not in shown and len(shown) == 12


def test_every_run_option_has_help_and_is_in_the_readme_synopsis() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    run = sub.choices["run"]  # type: ignore[attr-defined]
    options = [a for a in run._actions if a.option_strings and a.dest != "help"]
    assert [a.option_strings for a in options if not a.help] == []
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    synopsis = readme.split("conformance run [", 1)[1].split("```", 1)[0]
    missing = [a.option_strings[-1] for a in options if not any(o in synopsis for o in a.option_strings)]
    assert missing == []


def test_requirement_group_prefix_selects_that_group_only(tmp_path: Path, reference: ReferenceServer) -> None:
    cfg = write_config(tmp_path / "t.toml", reference)
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path / "r"), "--requirement", "AUTH-", *QUICK
    )
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]  # narrowed: INCOMPLETE by design
    results = _results(tmp_path / "r")
    ran = {rid for t in results["tests"] if t["verdict"] == "pass" for rid in t["requirements"]}
    assert ran and all(rid.startswith("AUTH-") for rid in ran)
    assert all(g["reason"] for g in results["summary"]["unverified"])
    assert "--requirement AUTH-" in results["run"]["selection"]


def test_requirement_exact_id_repeatable(tmp_path: Path, reference: ReferenceServer) -> None:
    cfg = write_config(tmp_path / "t.toml", reference)
    proc = run_suite(
        "--config",
        str(cfg),
        "--report-dir",
        str(tmp_path / "r"),
        "--requirement",
        "FORMAT-JSONP",
        "--requirement",
        "PHOTO-UNKNOWN",
        *QUICK,
    )
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    verdicts = {r["id"]: r["verdict"] for r in _results(tmp_path / "r")["requirements"]}
    assert verdicts["FORMAT-JSONP"] == "pass" and verdicts["PHOTO-UNKNOWN"] == "pass"
    assert verdicts["AUTH-UNSIGNED-DENIED"] != "pass"


@pytest.mark.parametrize("selection", ["NOPE-", "FORMAT-JSONPP", "-"])
def test_a_selection_matching_nothing_is_exit_2_before_any_request(
    tmp_path: Path, proxy: _ForwardProxy, named_reference: ReferenceServer, selection: str
) -> None:
    cfg = write_config(tmp_path / "t.toml", named_reference)
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path / "r"), "--proxy", proxy.url,
        "--requirement", selection, *QUICK,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"--requirement {selection!r}" in proc.stderr or "--requirement" in proc.stderr
    assert proxy.seen == []  # not even the preflight
    assert not (tmp_path / "r" / "results.json").exists()


def test_max_failures_stops_early(tmp_path: Path) -> None:
    faults = frozenset({"callback_ignored", "cached_one", "unknown_photo_gets_token"})
    # the three groups the faults fail in (FORMAT-JSONP, RESPONSE-CACHED-ZERO, PHOTO-UNKNOWN), not
    # the whole profile: what is asserted is where each run stops, not the profile's breadth
    groups = ("--requirement", "FORMAT-", "--requirement", "RESPONSE-", "--requirement", "PHOTO-", *QUICK)
    server = ReferenceServer(ReferenceSettings(faults=faults)).start()
    try:
        cfg = write_config(tmp_path / "t.toml", server)
        full = run_suite("--config", str(cfg), "--report-dir", str(tmp_path / "all"), *groups)
        first = run_suite("--config", str(cfg), "--report-dir", str(tmp_path / "x"), "--exitfirst", *groups)
        two = run_suite(
            "--config", str(cfg), "--report-dir", str(tmp_path / "m"), "--max-failures", "2", *groups
        )
        bad = conformance_in_process(  # a usage error: no run, no new interpreter
            "run", "--config", str(cfg), "--report-dir", str(tmp_path / "b"), "--max-failures", "0", *QUICK
        )
    finally:
        server.stop()
    assert full.returncode == first.returncode == two.returncode == 1
    assert bad.returncode == 2 and "--max-failures" in bad.stderr

    def failed(report: Path) -> int:
        return sum(t["verdict"] == "fail" for t in _results(report)["tests"])

    assert failed(tmp_path / "all") >= 3
    assert failed(tmp_path / "x") == 1 and failed(tmp_path / "m") == 2
    assert len(_results(tmp_path / "x")["tests"]) < len(_results(tmp_path / "all")["tests"])


def test_proxy_from_environment_is_honoured(
    tmp_path: Path, proxy: _ForwardProxy, named_reference: ReferenceServer
) -> None:
    cfg = write_config(tmp_path / "t.toml", named_reference)
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path / "r"), "--requirement", "AUTH-", *QUICK, env=env
    )
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    sent = _results(tmp_path / "r")["run"]["requests_sent"]
    assert len(proxy.seen) == sent > 0
    assert all(uri.startswith(f"http://{PROXIED_HOST}:") for _, uri, _ in proxy.seen)


def test_no_proxy_and_no_proxy_env_bypass_the_proxy(
    tmp_path: Path, proxy: _ForwardProxy, named_reference: ReferenceServer
) -> None:
    cfg = write_config(tmp_path / "t.toml", named_reference)
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url}
    flag = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path / "a"), "--no-proxy", "--requirement", "AUTH-",
        *QUICK, env=env,
    )  # fmt: skip
    listed = run_suite(
        "--config", str(cfg), "--report-dir", str(tmp_path / "b"), "--requirement", "AUTH-", *QUICK,
        env={**env, "NO_PROXY": PROXIED_HOST, "no_proxy": PROXIED_HOST},
    )  # fmt: skip
    # Without the proxy the made-up host name does not resolve: the target is unreachable.
    assert flag.returncode == listed.returncode == 3, flag.stdout[-2000:] + listed.stdout[-2000:]
    assert proxy.seen == []


def test_loopback_target_is_never_proxied(tmp_path: Path, proxy: _ForwardProxy) -> None:
    """The embedded reference listens on loopback: a corporate HTTP_PROXY must not capture it."""
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
    proc = run_suite("--report-dir", str(tmp_path / "r"), "--requirement", "PHOTO-", *QUICK, env=env)
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert _results(tmp_path / "r")["run"]["requests_sent"] > 0 and proxy.seen == []


def test_header_reaches_the_target_and_no_report_file(
    tmp_path: Path, proxy: _ForwardProxy, named_reference: ReferenceServer
) -> None:
    cfg = write_config(tmp_path / "t.toml", named_reference)
    report = tmp_path / "r"
    proc = run_suite(
        "--config", str(cfg), "--report-dir", str(report), "--proxy", proxy.url,
        "--header", f"X-Gateway-Key: {GATEWAY_VALUE}", "--requirement", "AUTH-", *QUICK,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proxy.seen and all(h.get("X-Gateway-Key") == GATEWAY_VALUE for _, _, h in proxy.seen)
    files = [p for p in report.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.json", "report.html", "junit.xml"}
    leaks = [p.name for p in files if GATEWAY_VALUE.encode() in p.read_bytes()]
    assert leaks == [] and GATEWAY_VALUE not in proc.stdout + proc.stderr


EXPECTED_NAME_VALUE = "--header: expected 'Name: value' (a header name, a colon, a value)"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("NoColon", EXPECTED_NAME_VALUE),
        ("Bad Name: v", EXPECTED_NAME_VALUE),
        ("X-Empty:", EXPECTED_NAME_VALUE),
        ("Authorization: x", "--header Authorization: the suite sets this header itself"),
    ],
)
def test_a_malformed_header_is_a_usage_error(tmp_path: Path, header: str, message: str) -> None:
    """The option exists and judges its value: the one line names what is wrong with this header."""
    proc = conformance_in_process("run", "--report-dir", str(tmp_path / "r"), "--header", header, *QUICK)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"conformance: {message}"], proc.stderr
    assert not (tmp_path / "r" / "results.json").exists()


def test_ctrl_c_once_lets_the_request_in_flight_finish_then_reports_and_exits_130(tmp_path: Path) -> None:
    """The first SIGINT arrives while the target is still answering: the client waits for the answer."""
    import signal
    import time

    from tests.hostile import HostileServer, distinctive_credentials, secret_env
    from tests.hostile import write_config as hostile_config

    started, client_gone = threading.Event(), []

    def slow_preflight(ctx: object) -> None:
        """The first request (the preflight, sent from the main thread) is answered after 4 s."""
        if not started.is_set():
            started.set()
            time.sleep(4)
            conn = ctx.handler.connection  # type: ignore[attr-defined]
            conn.setblocking(False)
            try:
                client_gone.append(conn.recv(1, socket.MSG_PEEK) == b"")
            except BlockingIOError:
                client_gone.append(False)  # still connected, nothing more sent: waiting for us
            finally:
                conn.setblocking(True)
        ctx.forward()  # type: ignore[attr-defined]

    creds = distinctive_credentials()
    with HostileServer(slow_preflight, upstream=True, credentials=creds) as hs:
        cfg = hostile_config(tmp_path / "t.toml", hs.base_url, creds)
        command = conformance_argv("run", "--config", str(cfg), "--report-dir", str(tmp_path / "r"))
        command += ["--requirement", "PHOTO-", *QUICK]
        env = {**os.environ, **secret_env(creds)}
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert started.wait(60), "the run sent no request"
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert client_gone == [False]  # the connection was open until the target answered
    results = _results(tmp_path / "r")
    assert results["summary"]["verdict"] == "INTERRUPTED" and results["summary"]["interrupted"] == "SIGINT"
    assert out.splitlines()[-1].startswith("verdict: INTERRUPTED")
