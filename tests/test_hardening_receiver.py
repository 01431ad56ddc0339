"""The suite's callback receiver holds against a flood of its (known in advance) port.

A conformant target must never fail BACKGROUND-CALLBACK because somebody else sent junk to the
receiver: the junk is dropped uncounted against the target and reported as a warning of the run.
The receiver binds loopback when the callback URL is on loopback, and every interface only when
the URL needs it.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance.config import parse_config
from conformance.reference import ReferenceServer, ReferenceSettings, write_target_config
from conformance.spec import REDEEM_REPLACE_TOKEN
from conformance.transport.receiver import (
    LISTEN_ENV,
    MAX_PER_KEY,
    CallbackReceiver,
    ReceiverPlan,
    describe_plan,
    plan_receiver,
)
from tests.hostile import Ctx, HostileServer, distinctive_credentials, run_conformance

FLOOD = 2000
CREDENTIALS = {
    "write": {
        "consumer_key": "ck-receiver",
        "consumer_secret": "cs-receiver-secret",
        "access_token": "at-receiver",
        "access_token_secret": "ats-receiver-secret",
    }
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def receiver_plan(callback_base_url: str | None, environ: dict[str, str] | None = None) -> ReceiverPlan | str:
    """The receiver plan for a loopback target told to call back ``callback_base_url``."""
    data = {"base_url": "http://127.0.0.1:9", "photo_id": "1", "credentials": CREDENTIALS}
    if callback_base_url is not None:
        data["callback_base_url"] = callback_base_url
    return plan_receiver(parse_config(data), environ=environ or {})


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def junk_request(port: int, n: int) -> bool:
    """One junk request to 127.0.0.1:port (never anywhere else); True when it reached the receiver."""
    paths = [
        "/",
        f"/conformance-callback/{secrets.token_hex(8)}?theme=green",  # looks right, key not live
        "/conformance-callback/" + "0" * 16,
        "/../../etc/passwd",
        "/conformance-callback/x" * 50,
    ]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if n % 3 == 0:
            conn.request("POST", paths[n % len(paths)], body=b"x" * 2048)
        else:
            conn.request("GET", paths[n % len(paths)])
        conn.getresponse().read()
        return True
    except ConnectionResetError:
        return True  # answered and closed before reading the junk body: it still arrived
    except OSError:
        return False
    finally:
        conn.close()


class Flooder:
    """Waits for the receiver's port to open, then sends FLOOD junk requests (a bounded loop)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.started = threading.Event()
        self.done = threading.Event()
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 240
            while not accepts("127.0.0.1", self.port):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)
            self.started.set()
            with ThreadPoolExecutor(max_workers=8) as pool:
                self.delivered = sum(pool.map(lambda n: junk_request(self.port, n), range(FLOOD)))
        finally:
            self.done.set()

    def __enter__(self) -> Flooder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=120)


def redeem_after_flood(flood: Flooder) -> Callable[[Ctx], None]:
    """Forward everything; a redeem made while the flood is on waits until the flood is over.

    So the target's real callback arrives after every junk request: the old receiver, which kept
    only the first 1000 requests, lost it.
    """

    def behaviour(ctx: Ctx) -> None:
        if (
            ctx.req.method == "POST"
            and ctx.req.target.startswith(REDEEM_REPLACE_TOKEN)
            and flood.started.is_set()
        ):
            flood.done.wait(120)
        ctx.forward()

    return behaviour


def test_full_run_passes_the_reference_under_a_flood_of_the_receiver(tmp_path: Path) -> None:
    port = free_port()
    flood = Flooder(port)
    hs = HostileServer(redeem_after_flood(flood))
    creds = distinctive_credentials("f")
    hs.upstream = ReferenceServer(
        ReferenceSettings(public_url=hs.base_url, credentials=creds, clock_control=True)
    )
    config = tmp_path / "target.toml"
    with hs, flood:
        write_target_config(
            hs.upstream,
            config,
            callback_base_url=f"http://127.0.0.1:{port}",
            limits={"timeout_seconds": 60},
        )
        out = run_conformance(tmp_path, config, "--profile", "full", hard_timeout=400)
    assert flood.started.is_set() and flood.delivered >= FLOOD * 0.95, flood.delivered
    verdicts = {r["id"]: r["verdict"] for r in out.results["requirements"]}
    assert verdicts["BACKGROUND-CALLBACK"] == "pass", out.stdout[-3000:]
    assert out.code == 0 and out.results["summary"]["verdict"] == "CONFORMANT", out.stdout[-3000:]
    receiver = out.results["run"]["callback_receiver"]
    assert receiver["listen"] == f"127.0.0.1:{port}" and receiver["all_interfaces"] is False
    assert flood.delivered <= receiver["dropped_requests"] <= FLOOD
    assert 1 <= receiver["kept_requests"] <= 10
    assert f"dropped {receiver['dropped_requests']} requests" in out.stdout
    assert "all interfaces" not in out.stdout


def _other_loopback_address_works() -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _other_loopback_address_works(), reason="127.0.0.2 is not usable here")
@pytest.mark.parametrize(
    ("host", "everywhere"),
    [("127.0.0.1", False), ("localhost", False), ("localhost.", False), ("callbacks.example.com", True)],
)
def test_receiver_binds_all_interfaces_only_when_the_callback_url_needs_it(
    host: str, everywhere: bool
) -> None:
    """Bound to 127.0.0.1 it refuses 127.0.0.2 (another address); bound to every interface it answers."""
    port = free_port()
    plan = receiver_plan(f"http://{host}:{port}")
    assert not isinstance(plan, str)
    line = describe_plan(plan)
    assert (line is not None) == everywhere
    if everywhere:
        assert "all interfaces" in line and host in line  # type: ignore[operator]
    with CallbackReceiver(plan) as rec:
        key, url = rec.new_endpoint()
        assert url.startswith(f"http://{host}:{port}/conformance-callback/")
        assert accepts("127.0.0.1", port)
        assert accepts("127.0.0.2", port) == everywhere
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/conformance-callback/{key}?theme=green")
        assert conn.getresponse().read() == b"ok"
        conn.close()
        assert junk_request(port, 1) and junk_request(port, 3)
        assert [r.query for r in rec.wait_for(key, timeout=2)] == [[("theme", "green")]]
        summary = rec.summary()
    assert summary["kept_requests"] == 1 and summary["dropped_requests"] == 2
    assert summary["all_interfaces"] is everywhere


def test_a_live_key_keeps_at_most_its_bound() -> None:
    """A flood that uses a live key cannot grow memory without bound either."""
    plan = receiver_plan(None)
    assert not isinstance(plan, str) and plan.bind_host == "127.0.0.1"
    with CallbackReceiver(plan) as rec:
        key, url = rec.new_endpoint()
        port = int(url.split(":")[2].split("/")[0])
        for _ in range(MAX_PER_KEY + 5):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"/conformance-callback/{key}")
            conn.getresponse().read()
            conn.close()
        assert len(rec.received(key)) == MAX_PER_KEY
        assert rec.summary()["dropped_requests"] == 5


@pytest.mark.parametrize(
    ("listen", "bind", "everywhere"),
    [("127.0.0.1:8123", "127.0.0.1", False), ("[::1]:8123", "::1", False), (":8123", "0.0.0.0", True)],
)
def test_the_listen_variable_overrides_where_the_receiver_binds(
    listen: str, bind: str, everywhere: bool
) -> None:
    """A tunnel forwards callback_base_url to a local port: the receiver binds that, the URL stays."""
    plan = receiver_plan("https://callbacks.example.com/suite", {LISTEN_ENV: listen})
    assert not isinstance(plan, str)
    assert (plan.bind_host, plan.bind_port) == (bind, 8123)
    assert plan.public_base == "https://callbacks.example.com/suite"
    line = describe_plan(plan)
    assert (line is not None) == everywhere
    if everywhere:
        assert f"{LISTEN_ENV}={listen} asks for it" in line  # type: ignore[operator]


@pytest.mark.parametrize("listen", ["8123", "127.0.0.1:99999", "127.0.0.1:0", "bad host!:8123"])
def test_a_malformed_listen_variable_is_the_reason_there_is_no_receiver(listen: str) -> None:
    plan = receiver_plan("https://callbacks.example.com", {LISTEN_ENV: listen})
    assert isinstance(plan, str) and plan.startswith(f"{LISTEN_ENV}: ") and repr(listen) in plan
