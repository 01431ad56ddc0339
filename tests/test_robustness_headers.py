"""Response heads are bounded: a target flooding headers gets an oversize failure, not gigabytes.

A target adding 95 headers of 65,000 bytes to every answer stays within ``http.client``'s own
limits (100 lines of 64 KiB); before the cap, one polite run against it held 9.8 GB and wrote a
334 MB report.html. The client now stops reading a head at ``[limits] max_header_bytes``, records
the answer as oversize, and records keep only a bounded prefix of any head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.checks import observe
from conformance.config import parse_config
from conformance.model.exchange import HEADERS_IN_REPORT, ApiRequest
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError
from tests.hostile import (
    Ctx,
    HostileServer,
    api_only,
    distinctive_credentials,
    header_flood,
    run_conformance,
    secret_env,
    when,
    write_config,
)

CREDS = distinctive_credentials("h")
TOKEN = ApiRequest(params=(("photo_id", "123456"),))


def _client(base_url: str, **limits: Any) -> TargetClient:
    return TargetClient(
        parse_config(
            {
                "base_url": base_url,
                "photo_id": "123456",
                "limits": {"timeout_seconds": 5, **limits},
                "credentials": {level: c.as_table() for level, c in CREDS.items()},
            }
        )
    )


def test_a_header_flood_is_read_only_up_to_the_cap_and_fails_as_oversize() -> None:
    with HostileServer(header_flood(), upstream=True, credentials=CREDS) as hs:
        client = _client(hs.base_url)
        ex = client.send(TOKEN)
    resp = ex.response
    assert resp is not None and resp.status == 200 and resp.headers_truncated and resp.body == b""
    assert sum(len(k) + len(v) for k, v in resp.headers) <= 64 * 1024
    obs = observe(ex, "xml")
    assert obs.parsed is None and "response headers exceed the size cap" in (obs.parse_error or "")
    assert client.stats.oversize == 1 and client.stats.retries == 0
    record = ex.to_dict()["response"]
    assert record["headers_truncated_by_cap"] and not record["body_truncated_by_cap"]
    assert record["headers_truncated_in_report"]
    assert sum(len(k) + len(v) for k, v in record["headers"]) <= HEADERS_IN_REPORT + 200
    assert any(v.endswith("more characters)") for _, v in record["headers"])  # a 65,000-byte value, cut


def test_a_head_under_the_cap_is_read_whole_and_the_cap_is_configurable() -> None:
    with HostileServer(header_flood(count=40, size=1000), upstream=True, credentials=CREDS) as hs:
        whole = _client(hs.base_url).send(TOKEN)
        small = _client(hs.base_url, max_header_bytes=2048).send(TOKEN)
    assert whole.response is not None and not whole.response.headers_truncated
    assert observe(whole, "xml").parsed is not None  # the upstream's real answer, parsed
    assert whole.response.header("X-Flood-39") == "f" * 1000
    kept = whole.to_dict()["response"]  # 40 kB of headers read; a record keeps 8 kB of them
    assert kept["headers_truncated_in_report"] and not kept["headers_truncated_by_cap"]
    assert kept["headers"][-1][1].endswith("more headers not kept in the report")
    assert sum(len(k) + len(v) for k, v in kept["headers"]) <= HEADERS_IN_REPORT + 200
    assert small.response is not None and small.response.headers_truncated
    assert sum(len(k) + len(v) for k, v in small.response.headers) <= 2048


def test_a_status_line_over_the_cap_is_a_protocol_error_never_retried() -> None:
    def long_status(ctx: Ctx) -> None:
        ctx.raw(b"HTTP/1.1 200 " + b"O" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n")

    with HostileServer(long_status) as hs:
        client = _client(hs.base_url)
        try:
            client.send(TOKEN)
        except TransportError as exc:
            error = exc
        else:
            raise AssertionError("an answer was recorded")
        assert hs.count == 1  # not retried
    assert error.kind == "protocol" and "response headers exceed 65536 bytes" in str(error)
    assert client.stats.retries == 0


def test_a_polite_run_against_a_header_flood_stays_small(tmp_path: Path) -> None:
    """The closing figure of issue 20: bounded memory and reports a few MB, however big the heads."""
    with HostileServer(when(api_only, header_flood()), upstream=True, credentials=CREDS) as hs:
        config = write_config(tmp_path / "target.toml", hs.base_url, CREDS)
        out = run_conformance(
            tmp_path,
            config,
            *("--settings", "polite", "--max-examples", "1", "--timeout", "5", "--deadline", "120"),
            env=secret_env(CREDS),
            hard_timeout=180,
        )
    sizes = {p.name: p.stat().st_size for p in out.report_dir.iterdir() if p.is_file()}
    rss = out.max_rss_kb // 1024
    print(f"header flood: exit {out.code}, {hs.count} requests, peak RSS {rss} MB, reports {sizes}")
    assert out.code == 1, f"exit {out.code}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.max_rss_kb < 1024 * 1024, f"peak RSS {out.max_rss_kb} kB"
    assert all(size < 5 * 1024 * 1024 for size in sizes.values()), sizes
    assert "response headers exceed the size cap" in json.dumps(out.results)
    assert out.results["run"]["oversize_responses"] >= 1
