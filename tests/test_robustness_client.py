"""The signed client and the parser against real misbehaving servers, in-process (fast, precise timing).

The end-to-end runs (tests/test_robustness_runs.py) prove the suite survives; these pin down the
mechanisms: the wall-clock watchdog, the size cap, the retry/breaker policy, TLS handling, the
redaction of reflected signatures and the parser's refusal of XML attacks and garbage.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from conformance.checks import check_json_wrapper, observe
from conformance.config import TargetConfig, parse_config
from conformance.model.exchange import ApiRequest
from conformance.parse.responses import ResponseParseError, parse_response
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError
from conformance.transport.redaction import BODY_REDACTED, Redactor
from tests.hostile import (
    BILLION_LAUGHS,
    HTML_ERROR_PAGE,
    QUADRATIC_BLOWUP,
    Canary,
    Ctx,
    HostileServer,
    distinctive_credentials,
    drip_body,
    drip_headers,
    endless,
    gzip_bomb,
    reflect,
    reset,
    self_signed_cert,
    stream_body,
    truncated,
    xxe_file,
    xxe_network,
    xxe_parameter,
)

CREDS = distinctive_credentials("c")
TOKEN = ApiRequest(params=(("photo_id", "123456"),))


def config(base_url: str, ca_bundle: Path | None = None, **limits: Any) -> TargetConfig:
    data: dict[str, Any] = {
        "base_url": base_url,
        "photo_id": "123456",
        "limits": limits,
        "credentials": {level: c.as_table() for level, c in CREDS.items()},
    }
    if ca_bundle is not None:
        data["ca_bundle"] = str(ca_bundle)
    return parse_config(data)


def send_timed(client: TargetClient, req: ApiRequest = TOKEN) -> tuple[TransportError | None, float]:
    t0 = time.monotonic()
    try:
        client.send(req)
    except TransportError as exc:
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


# ------------------------------------------------------------------ time
@pytest.mark.parametrize(
    ("behaviour", "phase"), [(drip_headers, "no complete response head"), (drip_body, "body incomplete")]
)
def test_a_dripping_answer_hits_the_wall_clock_timeout(behaviour: Any, phase: str) -> None:
    """One byte a second never trips a per-recv socket timeout; the watchdog ends it at 1 s."""
    with HostileServer(behaviour) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=1))
        exc, elapsed = send_timed(client)
    assert exc is not None and exc.kind == "timeout" and phase in str(exc)
    assert 0.9 < elapsed < 5, elapsed  # vs. forever: one byte a second never trips a recv timeout
    assert client.stats.timeouts == 1 and client.stats.retries == 0  # a timeout is never retried
    assert client.stats.failures[0]["kind"] == "timeout"


@pytest.fixture
def silent_tls_port() -> Iterator[int]:
    """Accepts TCP and then says nothing: a TLS handshake that never completes."""
    server = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for c in conns:
        c.close()
    server.close()


def test_a_silent_tls_handshake_hits_the_timeout(silent_tls_port: int) -> None:
    client = TargetClient(config(f"https://127.0.0.1:{silent_tls_port}", timeout_seconds=1))
    exc, elapsed = send_timed(client)
    assert exc is not None and exc.kind == "timeout" and elapsed < 5


def test_the_run_deadline_cuts_a_request_short_and_stops_sending() -> None:
    with HostileServer(drip_headers) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=30, run_deadline_seconds=1))
        exc, elapsed = send_timed(client)
        assert exc is not None and exc.kind == "deadline" and elapsed < 5
        exc, _ = send_timed(client)
        assert exc is not None and exc.kind == "deadline" and "not sent" in str(exc)
        assert hs.count == 1
    assert client.stats.deadline_exceeded and client.stats.not_sent == 1


def test_a_body_still_streaming_at_the_run_deadline_is_cut_by_the_deadline() -> None:
    """Whichever notices first, the watchdog or the body loop's own clock check, the run deadline
    is to blame, not the target (a "timeout" here once failed a correct, slow server). The busy
    stream lets the loop win about a third of the time, so the race is run several times."""
    with HostileServer(stream_body) as hs:
        for _ in range(6):
            client = TargetClient(
                config(hs.base_url, timeout_seconds=30, run_deadline_seconds=0.3, max_body_bytes=10**9)
            )
            exc, elapsed = send_timed(client)
            assert exc is not None and exc.kind == "deadline", exc
            assert "run deadline of 0.3s passed" in str(exc) and elapsed < 5
            assert client.stats.timeouts == 0


# ------------------------------------------------------------------ size
@pytest.mark.parametrize(
    "behaviour",
    [endless(), endless(declare_length=False), gzip_bomb()],
    ids=["600MB-with-length", "600MB-until-close", "gzip-bomb-512MB"],
)
def test_a_huge_body_is_read_only_up_to_the_cap(behaviour: Any) -> None:
    cap = 1_000_000
    with HostileServer(behaviour) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=5, max_body_bytes=cap))
        tracemalloc.start()
        try:
            ex = client.send(TOKEN)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert ex.response is not None and ex.response.truncated and len(ex.response.body) == cap
    assert peak < 12 * cap, f"peak Python allocation {peak} bytes for a {cap}-byte cap"
    obs = observe(ex, "xml")
    assert (
        obs.parsed is None
        and f"exceeds the size cap ({cap} bytes read; the cap is [limits] max_body_bytes)"
        in (obs.parse_error or "")
    )
    assert client.stats.oversize == 1
    ex.response.release()
    assert ex.to_dict()["response"]["body_bytes"] == cap and len(ex.response.body) <= 65536


# ------------------------------------------------------------------ transport: retry once, breaker
def test_a_truncated_body_is_retried_once_then_reported() -> None:
    with HostileServer(truncated, upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=2))
        exc, _ = send_timed(client)
        assert hs.count == 2
    assert exc is not None and exc.kind == "connection" and "body truncated" in str(exc)
    assert client.stats.retries == 1 and [f["retry"] for f in client.stats.failures] == [False, True]


def test_resets_open_the_circuit_breaker() -> None:
    """Three logical failures in a row (each retried once) and the client stops sending."""
    with HostileServer(reset) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=1))
        errors = [send_timed(client)[0] for _ in range(5)]
        assert hs.count == 6
    assert all(e is not None for e in errors)
    assert "connection reset" in str(errors[0])
    assert [e.kind for e in errors if e is not None] == ["connection"] * 3 + ["circuit_open"] * 2
    assert client.stats.circuit_opened and client.stats.not_sent == 2 and client.stats.retries == 3


def test_an_open_circuit_lets_one_probe_through_after_the_cool_down() -> None:
    """A target that comes back is used again; while it stays down, one request per cool-down."""

    def flaky(ctx: Ctx) -> None:
        (reset if ctx.server.count <= 7 else Ctx.forward)(ctx)

    with HostileServer(flaky, upstream=True, credentials=CREDS) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=1))
        client.pacer.cooldown = 2.0  # a margin of seconds: the request after a failed probe is refused
        kinds = [getattr(send_timed(client)[0], "kind", None) for _ in range(4)]
        assert kinds == ["connection"] * 3 + ["circuit_open"] and hs.count == 6
        time.sleep(2.1)
        assert getattr(send_timed(client)[0], "kind", None) == "connection"  # the probe: 2 attempts, fails
        assert hs.count == 7 and getattr(send_timed(client)[0], "kind", None) == "circuit_open"
        time.sleep(2.1)
        assert send_timed(client)[0] is None and send_timed(client)[0] is None  # back, closed again
        assert hs.count == 9


def test_connection_refused_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = TargetClient(config(f"http://127.0.0.1:{port}", timeout_seconds=1))
    exc, elapsed = send_timed(client)
    assert exc is not None and f"connection refused by 127.0.0.1:{port}" in str(exc) and elapsed < 5


# ------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = self_signed_cert(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("neither the cryptography package nor the openssl CLI is available")
    return made


def test_a_self_signed_certificate_is_refused_with_a_hint(tls_material: tuple[Path, Path]) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS, tls=tls_material) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=2))
        assert client._session().verify is True  # never a silent verify=False
        exc, _ = send_timed(client)
    assert exc is not None and exc.kind == "tls"
    assert "certificate verification failed" in str(exc) and "--ca-bundle" in str(exc)
    assert client.stats.retries == 0


def test_a_ca_bundle_makes_the_private_certificate_trusted(tls_material: tuple[Path, Path]) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS, tls=tls_material) as hs:
        client = TargetClient(config(hs.base_url, ca_bundle=tls_material[0], timeout_seconds=2))
        ex = client.send(TOKEN)
    assert client._session().verify == str(tls_material[0])
    assert observe(ex, "xml").ok


# ------------------------------------------------------------------ secrets
SIG = "ab+c/dEF0123456789abcdefGHI="


def _entities(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


@pytest.mark.parametrize(
    "form",
    [
        SIG,
        quote(SIG, safe=""),
        quote(SIG, safe="").replace("%2B", "%2b"),
        quote(quote(SIG, safe=""), safe=""),
        SIG.replace("/", "\\/"),
        "".join(f"\\u{ord(c):04x}" for c in SIG),
        _entities(SIG),
        "".join(f"&#x{ord(c):x};" for c in SIG),
        SIG[:9] + _entities(SIG[9:15]) + quote(SIG[15:], safe=""),
        _entities(SIG).replace("&", "&amp;"),
        quote(SIG[:10], safe="") + _entities(SIG[10:]).replace("&", "&amp;"),
        f'oauth_signature="{quote(SIG, safe="")}"',
        f"oauth_signature=&quot;{SIG}&quot;",
    ],
    ids=[
        "raw",
        "percent",
        "percent-lower",
        "percent-twice",
        "json-slash",
        "json-unicode",
        "entities",
        "hex-entities",
        "mixed",
        "entities-twice",
        "mixed-nested",
        "auth-header",
        "html-header",
    ],
)
def test_a_reflected_signature_is_removed_in_any_encoding(form: str) -> None:
    redactor = Redactor(["consumer-SECRET", "token/SECRET+"])
    redactor.add_signature(SIG)
    body = f'<response status="error"><message>you sent {form} ok</message></response>'.encode()
    clean = redactor.scrub_bytes(body)
    assert SIG not in clean.decode() and redactor._known_in(clean.decode()) == set()
    assert BODY_REDACTED.encode() in clean
    parse_response(clean, "xml")  # the redaction marker does not break the XML


@pytest.mark.parametrize("secret", ["consumer-SECRET", "token/SECRET+"])
def test_secrets_are_removed_raw_and_encoded(secret: str) -> None:
    redactor = Redactor(["consumer-SECRET", "token/SECRET+"])
    for form in (secret, quote(secret, safe=""), secret.replace("/", "\\/")):
        assert secret not in redactor.scrub(f"x {form} y") and "<redacted>" in redactor.scrub(f"x {form} y")


@pytest.mark.parametrize("placement", ["header", "query", "body"])
def test_a_reflecting_server_never_gets_a_signature_into_the_exchange(placement: str) -> None:
    with HostileServer(reflect) as hs:
        client = TargetClient(config(hs.base_url, timeout_seconds=2))
        ex = client.send(TOKEN.but(placement=placement, http_method="POST" if placement == "body" else "GET"))
        sigs = hs.signatures()
    assert len(sigs) == 1
    record = str(ex.to_dict())
    for sig in sigs:
        assert sig not in record and quote(sig, safe="") not in record
    for c in CREDS.values():
        assert c.consumer_secret not in record and c.access_token_secret not in record
    assert observe(ex, "xml").parsed is not None  # still judged: a well-formed, failing answer


# ------------------------------------------------------------------ XML attacks and garbage
def test_xml_attacks_are_refused_without_resolving_anything(tmp_path: Path) -> None:
    secret_file = tmp_path / "passwd"
    secret_file.write_text("CANARY-FILE-CONTENT")
    with Canary() as canary:
        bodies = [
            xxe_file(secret_file),
            xxe_network(canary.url),
            xxe_parameter(canary.url),
            BILLION_LAUGHS,
            QUADRATIC_BLOWUP,
        ]
        for body in bodies:
            t0 = time.monotonic()
            with pytest.raises(ResponseParseError, match="DTD/entity declaration") as info:
                parse_response(body, "xml")
            assert time.monotonic() - t0 < 5 and "CANARY-FILE-CONTENT" not in str(info.value)
        time.sleep(0.1)
    assert canary.hits == 0


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        (
            b'<response status="ok"><replace_token>\xff\xfe</replace_token></response>',
            "xml",
            "not valid UTF-8",
        ),
        (b"\x00\x01\x02binary\x00noise\xff" * 20, "xml", "binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "json", "binary data"),
        (HTML_ERROR_PAGE, "json", "HTML page"),
        (HTML_ERROR_PAGE, "xml", "HTML page"),
        (b'var visual = {"status": "ok", ', "json", "not valid JSON"),
        (b"", "xml", "empty"),
    ],
)
def test_garbage_is_a_specific_parse_error(body: bytes, expected: Any, message: str) -> None:
    with pytest.raises(ResponseParseError, match=message):
        parse_response(body, expected)


def test_a_json_body_in_the_wrong_wrapper_is_a_specific_finding() -> None:
    with HostileServer(
        lambda ctx: ctx.respond(b'evil({"status": "ok"});', headers=[("Content-Type", "text/javascript")])
    ) as hs:
        ex = TargetClient(config(hs.base_url, timeout_seconds=2)).send(TOKEN.with_params(format="json"))
    findings = check_json_wrapper(observe(ex, "json"), "var", "visual")
    assert [f.message for f in findings] == ["JSON wrapper is evil(...), expected var visual = {...};"]
