"""The full profile: the conformant reference passes it, with and without test hooks, and its parts
(uploads, the callback receiver, the redeem checks) behave on their own.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import requests
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder

from conformance.checks import callback as cb
from conformance.checks import redeem as rc
from conformance.config import parse_config
from conformance.model.exchange import Exchange, RecordedResponse
from conformance.parse import redeem as pr
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.transport.receiver import NO_RECEIVER, CallbackReceiver, ReceiverPlan, plan_receiver
from conformance.transport.uploads import gif, make_upload, multipart_form, png
from tests.suite_runs import FAST, run_plain_pytest, run_suite, verdicts, write_config

LIFECYCLE = "redeem or stateful"


def _full_musts(results: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in results["requirements"] if r["profile"] == "full"}


# ------------------------------------------------------------------ whole runs
def test_full_profile_passes_against_the_embedded_reference(tmp_path: Path) -> None:
    """`conformance run --profile full` (embedded reference: clock control on, destructive) exits 0."""
    proc = run_suite("--profile", "full", "--report-dir", str(tmp_path), "--seed", "5", *FAST)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    full = _full_musts(results)
    assert len(full) == 15 and set(full.values()) == {"pass"}, full
    # Tests that change the target run after every read-only core test.
    names = [c.get("classname", "") for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")]
    lifecycle = [i for i, n in enumerate(names) if "redeem" in n or "stateful" in n]
    assert lifecycle and min(lifecycle) == len(names) - len(lifecycle), names


def test_vendor_like_target_without_hooks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No clock_control_url: nothing is asked of /_test/, and the expiry test is skipped with its reason."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    with ReferenceServer(ReferenceSettings(clock_control=False, log_requests=True)) as server:
        cfg = write_config(tmp_path / "t.toml", server)
        proc = run_suite(
            "--config", str(cfg), "--profile", "full", "--report-dir", str(tmp_path), "-k", LIFECYCLE, *FAST
        )
    assert proc.returncode == 4, proc.stdout[-3000:]  # INCOMPLETE: the expiry MUST is not verified
    results = json.loads((tmp_path / "results.json").read_text())
    v = _full_musts(results)
    assert v.pop("EXPIRY-REFUSED") == "skip" and set(v.values()) == {"pass"}, v
    expiry = next(t for t in results["tests"] if "refused_after_valid_until" in t["nodeid"])
    assert expiry["message"] == "expiry test needs --include-slow or clock_control_url"
    access_log = caplog.text
    assert "redeem-replace-token" in access_log and "/_test/" not in access_log


def test_real_time_expiry_needs_a_deadline_that_fits(tmp_path: Path) -> None:
    """--include-slow, no clock control, a short --deadline: the 15-minute wait is skipped up front."""
    with ReferenceServer(ReferenceSettings(clock_control=False)) as server:
        cfg = write_config(tmp_path / "t.toml", server)
        proc = run_suite(
            "--config",
            str(cfg),
            "--profile",
            "full",
            "--report-dir",
            str(tmp_path),
            "--include-slow",
            "--deadline",
            "120",
            "-k",
            "refused_after_valid_until",
            *FAST,
        )
    assert proc.returncode == 4, proc.stdout[-3000:]  # INCOMPLETE: skipped, so not verified
    (test,) = json.loads((tmp_path / "results.json").read_text())["tests"]
    assert test["verdict"] == "skip" and "does not fit in the run deadline" in test["message"]


def test_callback_base_url_receiver(tmp_path: Path) -> None:
    """With callback_base_url the receiver listens locally and the target is given that URL + a test path."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"CONFORMANCE_CALLBACK_LISTEN": f"127.0.0.1:{port}"}
    with ReferenceServer(ReferenceSettings(clock_control=True)) as server:
        cfg = write_config(tmp_path / "t.toml", server, callback_base_url=f"http://127.0.0.1:{port}/hooks")
        proc = run_suite(
            "--config",
            str(cfg),
            "--profile",
            "full",
            "--report-dir",
            str(tmp_path),
            "-k",
            "background",
            *FAST,
            env=env,
        )
        history = requests.get(f"{server.base_url}/_test/photo/{server.settings.photo_id}", timeout=5).json()
    assert proc.returncode == 4, proc.stdout[-3000:]  # -k: the other MUSTs are unverified (INCOMPLETE)
    assert verdicts(tmp_path)["BACKGROUND-CALLBACK"] == "pass"
    urls = [r["callback_url"] for r in history["replacements"]]
    assert urls and all(u.startswith(f"http://127.0.0.1:{port}/hooks/conformance-callback/") for u in urls)


def test_plain_pytest_full_profile_needs_destructive(tmp_path: Path) -> None:
    with ReferenceServer() as server:
        cfg = write_config(tmp_path / "t.toml", server, destructive=False)
        proc = run_plain_pytest(cfg, tmp_path, "--conformance-profile", "full", "-k", "redeem", timeout=120)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "destructive = true" in proc.stderr


# ------------------------------------------------------------------ uploads
def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        out.append((kind, payload))
        pos += 12 + length
    return out


def test_png_is_a_valid_one_pixel_image() -> None:
    chunks = dict(_png_chunks(png((1, 2, 3), "hello")))
    assert struct.unpack(">IIBBBBB", chunks[b"IHDR"]) == (1, 1, 8, 2, 0, 0, 0)
    assert zlib.decompress(chunks[b"IDAT"]) == b"\x00\x01\x02\x03"
    assert chunks[b"tEXt"] == b"Comment\x00hello" and b"IEND" in chunks


def test_gif_is_a_valid_one_pixel_image() -> None:
    data = gif((9, 8, 7), "c" * 300)
    assert data.startswith(b"GIF89a\x01\x00\x01\x00\x80") and data.endswith(b"\x02\x02\x44\x01\x00\x3b")
    assert data[13:16] == bytes((9, 8, 7))
    assert b"\x21\xfe\xff" + b"c" * 255 + b"\x2d" + b"c" * 45 + b"\x00" in data


def test_uploads_are_tiny_and_unique() -> None:
    uploads = [make_upload() for _ in range(20)]
    assert len({u.sha256 for u in uploads}) == 20
    assert {u.content_type for u in uploads} == {"image/png", "image/gif"}
    assert all(len(u.data) < 200 for u in uploads)
    assert uploads[0].sha256 == hashlib.sha256(uploads[0].data).hexdigest()


@pytest.mark.parametrize("empty_file_part", [True, False])
def test_multipart_form_parses_like_a_browser_form(empty_file_part: bool) -> None:
    upload = make_upload("png")
    fields = [("replace_token", "abc"), ("title", 'Mÿ "clip"\r\n&'), ("tag", "a"), ("tag", "b")]
    for file in (upload, None):
        body, ctype = multipart_form(fields, file, empty_file_part=empty_file_part)
        env = EnvironBuilder(
            method="POST", input_stream=io.BytesIO(body), content_type=ctype, content_length=len(body)
        ).get_environ()
        _, form, files = parse_form_data(env)
        assert list(form.items(multi=True)) == [
            ("replace_token", "abc"),
            ("title", 'Mÿ "clip"\r\n&'),
            ("tag", "a"),
            ("tag", "b"),
        ]
        if file is not None:
            assert files["file"].read() == upload.data and files["file"].filename == upload.filename
        elif empty_file_part:
            assert files["file"].filename == "" and files["file"].read() == b""
        else:
            assert "file" not in files


# ------------------------------------------------------------------ receiver
def _config(base_url: str, callback_base_url: str = "") -> object:
    return parse_config(
        {
            "base_url": base_url,
            "photo_id": "1",
            "callback_base_url": callback_base_url,
            "credentials": {
                "write": {
                    "consumer_key": "k",
                    "consumer_secret": "s",
                    "access_token": "t",
                    "access_token_secret": "u",
                }
            },
        }
    )


@pytest.mark.parametrize(
    ("base_url", "callback", "env", "expected"),
    [
        ("http://127.0.0.1:8080", "", {}, ReceiverPlan("127.0.0.1", 0, None)),
        ("http://localhost", "", {}, ReceiverPlan("127.0.0.1", 0, None)),
        ("http://[::1]:81", "", {}, ReceiverPlan("::1", 0, None)),
        ("https://staging.example.com", "", {}, NO_RECEIVER),
        (
            "https://staging.example.com",
            "https://ci.example.net:8443/cb/",
            {},
            ReceiverPlan("0.0.0.0", 8443, "https://ci.example.net:8443/cb"),
        ),
        (
            "https://staging.example.com",
            "https://tunnel.example.net",
            {},
            ReceiverPlan("0.0.0.0", 443, "https://tunnel.example.net"),
        ),
        (
            "https://staging.example.com",
            "https://tunnel.example.net/x",
            {"CONFORMANCE_CALLBACK_LISTEN": "127.0.0.1:9000"},
            ReceiverPlan("127.0.0.1", 9000, "https://tunnel.example.net/x"),
        ),
        (
            "http://127.0.0.1",
            "http://host.docker.internal:7000",
            {},
            ReceiverPlan("0.0.0.0", 7000, "http://host.docker.internal:7000"),
        ),
    ],
)
def test_receiver_plan(base_url: str, callback: str, env: dict[str, str], expected: object) -> None:
    """Loopback targets get a loopback receiver; callback_base_url wins; otherwise the skip reason."""
    assert plan_receiver(_config(base_url, callback), env) == expected  # type: ignore[arg-type]


def test_receiver_records_get_and_post_and_caps_bodies() -> None:
    with CallbackReceiver(ReceiverPlan("127.0.0.1", 0, None)) as rec:
        key, url = rec.new_endpoint()
        other, _ = rec.new_endpoint()
        assert requests.get(url + "?a=1&b=%C3%BC", timeout=5).text == "ok"
        requests.post(url, data=b"x" * 100_000, timeout=5)
        got = rec.wait_for(key, timeout=2, count=2)
        assert rec.wait_for(other, timeout=0.1) == []
    assert [r.method for r in got] == ["GET", "POST"]
    assert got[0].query == [("a", "1"), ("b", "ü")] and len(got[1].body) == 64 * 1024


# ------------------------------------------------------------------ redeem checks
def _exchange(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> Exchange:
    ex = Exchange(1, None, "POST", "http://t/api/photo/redeem-replace-token", [], "", 0.0)
    ex.response = RecordedResponse(status, "", headers or [], body)
    return ex


SUCCESS = "https://a.example/cb?theme=green&domain=d&replace_token=T&photo_id=1&tree_id=2&token=k&note=x"


def test_redirect_is_read_and_judged() -> None:
    answer = pr.read_redeem_answer(_exchange(301, b"", [("Location", SUCCESS)]))
    assert answer.kind == "redirect" and answer.outcome == "success"
    assert cb.check_success_callback(answer, "T", "1") == []
    assert cb.check_callback_keeps_return_url(answer, "https://a.example/cb?theme=green") == []
    assert cb.check_extra_fields_repeated(answer, [("note", "x")]) == []
    assert rc.check_redirect(answer) == []
    assert rc.check_plain_error(answer)[0].message.endswith("(a success-looking callback)")
    lost = cb.check_callback_keeps_return_url(answer, "https://a.example/cb?theme=blue")
    assert "theme='blue'" in lost[0].message
    assert cb.check_success_callback(answer, "T", "999")[0].message.startswith("photo_id")


def test_long_redirect_is_not_a_form_post() -> None:
    location = "https://a.example/cb?pad=" + "p" * 1700
    answer = pr.read_redeem_answer(_exchange(301, b"", [("Location", location)]))
    (finding,) = rc.check_form_post(answer, "https://a.example/cb?pad=")
    assert "GET redirect with a 1725-character callback URL" in finding.message


def test_form_page_is_parsed_with_escaped_values() -> None:
    page = (
        b'<html><body><form id="f" METHOD="POST" action="https://a.example/cb?theme=green">'
        b'<input type="hidden" name="domain" value="d">'
        b'<input type="hidden" name="note" value="&quot;q&quot; &lt;b&gt;">'
        b'<input type="submit" value="Go"></form><form><input name="x" value="y"></form></body></html>'
    )
    answer = pr.read_redeem_answer(_exchange(200, page, [("Content-Type", "text/html")]))
    assert (answer.kind, answer.form_method) == ("form", "post")
    assert answer.params == [("domain", "d"), ("note", '"q" <b>')]
    assert rc.check_form_post(answer, "https://a.example/cb?theme=green") == []
    assert cb.check_callback_keeps_return_url(answer, "https://a.example/cb?theme=green") == []


def test_plain_errors_and_ok_lines() -> None:
    plain = pr.read_redeem_answer(_exchange(200, b"Invalid replace token", [("Content-Type", "text/plain")]))
    assert rc.check_plain_error(plain) == [] and plain.outcome == "error"
    assert rc.check_plain_error(plain, background=True)[0].message.startswith("a background-mode error")
    styled = pr.read_redeem_answer(_exchange(404, b"<html><body><h1>Bad token</h1></body></html>"))
    assert {f.severity for f in rc.check_plain_error(styled)} == {"error", "warning"}
    line = pr.parse_background_ok("ok d 2 1 k http://r/cb?x=1")
    assert line == pr.BackgroundLine("d", "2", "1", "k", "http://r/cb?x=1")
    assert pr.parse_background_ok("ok d 2 1 k") is None


def test_success_count_names_the_extra_success() -> None:
    ok = pr.read_redeem_answer(_exchange(301, b"", [("Location", SUCCESS)]))
    err = pr.read_redeem_answer(_exchange(200, b"used up"))
    assert rc.check_success_count([ok, err, err], 1) == []
    (finding,) = rc.check_success_count([ok, ok, err], 1)
    assert finding.message == "2 of 3 redemptions succeeded, expected exactly 1"


def test_hostile_bodies_never_raise() -> None:
    for body in (
        b"<form",
        b"<form action='\x00'><input name=a value=b",
        b"\xff\xfe<form>" * 1000,
        b"<!-- <form",
    ):
        answer = pr.read_redeem_answer(_exchange(200, body))
        assert answer.kind in ("form", "text")
        rc.check_plain_error(answer)
        cb.check_success_callback(answer, "T", "1")
