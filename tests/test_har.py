"""``conformance run --har FILE``: every exchange of the run as HAR 1.2, redacted like the reports.

A real run against the reference server on loopback: the HAR has one entry per request the run
sent (results.json's own count), each entry is attributed to its test and requirements, and no
secret, signature or ``--header`` value survives. A long body is cut at the report cap with a note.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conformance.model.exchange import ApiRequest, Exchange, RecordedResponse
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.report.har import BODY_LIMIT, CERTIFY_NAME, har_entry
from tests.suite_runs import conformance_in_process, run_suite, write_config

GATEWAY = "gw-har-5d1e9f0a77-secret"
HAR_REQUIRED = {
    "entry": {"startedDateTime", "time", "request", "response", "cache", "timings"},
    "request": {
        "method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize",
    },
    "response": {
        "status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL",
        "headersSize", "bodySize",
    },
    "timings": {"send", "wait", "receive"},
}  # fmt: skip


def assert_har_1_2(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields HAR 1.2 requires (http://www.softwareishard.com/blog/har-12-spec/), per entry."""
    log = document["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "conformance"
    for entry in log["entries"]:
        assert HAR_REQUIRED["entry"] <= set(entry)
        assert HAR_REQUIRED["request"] <= set(entry["request"])
        assert HAR_REQUIRED["response"] <= set(entry["response"])
        assert HAR_REQUIRED["timings"] <= set(entry["timings"])
        assert {"size", "mimeType"} <= set(entry["response"]["content"])
        assert all(set(h) == {"name", "value"} for h in entry["request"]["headers"])
    return list(log["entries"])


def test_har_has_every_exchange_attributed_and_redacted(tmp_path: Path) -> None:
    with ReferenceServer(ReferenceSettings(faults=frozenset({"unsigned_gets_token"}))) as server:
        cfg = write_config(tmp_path / "t.toml", server)
        secrets = [c.consumer_secret for c in server.credentials.values()]
        secrets += [c.access_token_secret for c in server.credentials.values()]
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(tmp_path / "r"),
            "--har", str(tmp_path / "h" / "run.har"), "--requirement", "AUTH-", "--max-examples", "2",
            "--header", f"X-Gateway-Key: {GATEWAY}",
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = (tmp_path / "h" / "run.har").read_text(encoding="utf-8")
    entries = assert_har_1_2(json.loads(text))
    results = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert len(entries) == results["run"]["requests_sent"] > 10
    # attribution: the preflight first, then each entry names its test and the requirements
    assert entries[0]["comment"].startswith("preflight")
    unsigned = [e for e in entries if "test_unsigned_request_is_denied" in e["comment"]]
    assert unsigned and all("AUTH-UNSIGNED-DENIED" in e["comment"] for e in unsigned)
    assert all(e["_conformance"]["requirements"] == ["AUTH-UNSIGNED-DENIED"] for e in unsigned)
    # the failing exchange is there with its answer: an unsigned request that got a token
    assert any(
        not any(h["name"] == "Authorization" for h in e["request"]["headers"])
        and "replace_token" in e["response"]["content"]["text"]
        for e in unsigned
    )
    # redacted as the reports are: secrets, signatures, --header values
    for secret in [*secrets, GATEWAY]:
        assert secret not in text
    signed = [h["value"] for e in entries for h in e["request"]["headers"] if h["name"] == "Authorization"]
    assert signed and all('oauth_signature="<redacted>"' in v for v in signed)
    gateway = {h["value"] for e in entries for h in e["request"]["headers"] if h["name"] == "X-Gateway-Key"}
    assert gateway == {"<redacted>"}
    assert not list((tmp_path / "r").glob("*.har"))  # only where asked (no --certify)


def test_har_cuts_a_long_body_with_a_note() -> None:
    long_body = b"<response>" + b"x" * (BODY_LIMIT * 2) + b"</response>"
    exchange = Exchange(
        id=7,
        request=ApiRequest(),
        method="POST",
        url="https://target.example/api/photo/get-replace-token?format=json",
        request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
        request_body="photo_id=1",
        started_at=time.time(),
        finished_at=time.time(),
        response=RecordedResponse(200, "OK", [("Content-Type", "text/xml")], long_body, elapsed_ms=3.5),
    )
    entry = har_entry(exchange.to_dict(BODY_LIMIT), "test_x.py::test_y", ("HTTP-STATUS-200",))
    content = entry["response"]["content"]
    assert len(content["text"]) == BODY_LIMIT and content["size"] == len(long_body)
    assert f"the first {BODY_LIMIT} characters of {len(long_body)} bytes" in content["comment"]
    assert (
        content["comment"] in entry["comment"]
        and "test_x.py::test_y verifying HTTP-STATUS-200" in entry["comment"]
    )
    assert entry["request"]["postData"] == {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "photo_id=1",
    }
    assert entry["request"]["queryString"] == [{"name": "format", "value": "json"}]
    assert entry["time"] == 3.5 and entry["timings"]["wait"] == 3.5


def test_a_failed_request_is_an_entry_with_status_0_and_the_error() -> None:
    exchange = Exchange(
        id=1, request=None, method="GET", url="https://target.example/api/x", request_headers=[],
        request_body="", started_at=100.0, finished_at=100.25, error="connection refused",
        error_kind="connection",
    )  # fmt: skip
    entry = har_entry(exchange.to_dict(), "preflight", ())
    assert entry["response"]["status"] == 0 and entry["response"]["_error"] == "connection refused"
    assert "no response: connection refused" in entry["comment"] and entry["time"] == 250.0


def test_certify_writes_the_har_into_the_report_dir(tmp_path: Path) -> None:
    with ReferenceServer(ReferenceSettings()) as server:
        cfg = write_config(tmp_path / "t.toml", server)
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(tmp_path / "r"), "--certify",
            "--requirement", "AUTH-WRITE-GRANTED", "--max-examples", "2",
        )  # fmt: skip
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]  # partial: no certificate
    entries = assert_har_1_2(json.loads((tmp_path / "r" / CERTIFY_NAME).read_text(encoding="utf-8")))
    assert any("AUTH-WRITE-GRANTED" in e["comment"] for e in entries)


def test_har_naming_a_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = conformance_in_process("run", "--report-dir", str(tmp_path / "r"), "--har", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"conformance: --har {tmp_path}: is a directory; give a file name such as run.har"
    )
    assert "Traceback" not in proc.stderr and not (tmp_path / "r" / "results.json").exists()
