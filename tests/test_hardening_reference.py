"""``conformance serve`` holds against a careless operator and a hostile client.

Each test runs the reference as its own process on loopback: the clock hook cannot push the API
clock out of the range dates format in (and a bad stored offset never breaks startup), a full
disk or a broken database file is a server-side error in the format asked for, the database
file is private, the access log shows no signature, and bad options end in one line, exit 2.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth1

from tests.reference_helpers import GET_TOKEN, REDEEM, js, xml

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    """A running ``conformance serve`` process and what it wrote."""

    proc: subprocess.Popen[str]
    base_url: str
    config: dict[str, object]
    stderr_path: Path

    def auth(self, signature_type: str = "AUTH_HEADER") -> OAuth1:
        w = self.config["credentials"]["write"]  # type: ignore[index]
        return OAuth1(
            w["consumer_key"],
            w["consumer_secret"],
            w["access_token"],
            w["access_token_secret"],
            signature_type=signature_type,
        )

    def get_token(self, signature_type: str = "AUTH_HEADER", **params: str) -> requests.Response:
        params = {"photo_id": str(self.config["photo_id"]), **params}
        return requests.get(
            self.base_url + GET_TOKEN, params=params, auth=self.auth(signature_type), timeout=10
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def serve(tmp: Path, *args: str) -> Iterator[Served]:
    """Run ``conformance serve`` (clock hooks on) until the block ends; stops it with SIGTERM."""
    config_path = tmp / f"target-{uuid.uuid4().hex[:6]}.toml"
    stderr_path = tmp / f"serve-{uuid.uuid4().hex[:6]}.log"
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conformance.reference.cli",
                "--enable-clock-control",
                "--write-config",
                str(config_path),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), stderr_path.read_text()
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        yield Served(proc, base_url, config, stderr_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def advance(s: Served, seconds: str) -> requests.Response:
    return requests.post(s.base_url + "/_test/clock", data={"advance_seconds": seconds}, timeout=10)


def assert_healthy(s: Served) -> None:
    """Issue and redeem answer normally and the Date header formats."""
    resp = s.get_token()
    root = xml(resp)
    assert root.get("status") == "ok", resp.text
    assert parsedate_to_datetime(resp.headers["Date"]).year <= 9999
    token = root.findtext("replace_token")
    redeemed = requests.post(
        s.base_url + REDEEM,
        data={"replace_token": token},
        files={"file": ("a.png", b"\x89PNG fake", "image/png")},
        allow_redirects=False,
        timeout=10,
    )
    assert redeemed.status_code == 200 and redeemed.text == "OK", redeemed.text


# ------------------------------------------------------------------ the clock hook
def test_clock_hook_refuses_moves_past_the_horizon_and_a_bad_stored_offset_never_breaks_startup(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ref.db"
    with serve(tmp_path, "--db", str(db), "--quiet") as s:
        answers = [advance(s, "9999999999") for _ in range(30)]  # ~317 years each
        codes = [a.status_code for a in answers]
        assert 200 in codes and 400 in codes, codes
        refused = answers[codes.index(400)].json()["error"]
        assert "past 9998-01-01" in refused and "more seconds are allowed" in refused
        assert set(codes[codes.index(400) :]) == {400}  # once at the horizon, no move passes it
        assert_healthy(s)
        assert xml(s.get_token(valid_minutes="1440")).get("status") == "ok"  # a day past "now" too

    # An offset stored by an older server (or edited by hand) is reset at startup, with a log line.
    for bad in ("99999999999999", "-99999999999999", "not a number"):
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'clock_offset'", (bad,))
        with serve(tmp_path, "--db", str(db), "--quiet") as s:
            assert_healthy(s)
            assert "clock offset" in s.stderr() and "reset to 0" in s.stderr()
            assert advance(s, "60").json()["offset"] == 60


# ------------------------------------------------------------------ storage failures
def assert_server_side_error(s: Served) -> None:
    """A storage failure: the asked format, a server-side code, never the client's fault."""
    resp = s.get_token()
    root = xml(resp)
    assert resp.status_code == 200
    assert root.get("status") == "error" and root.get("code") == "error_processing_upload", resp.text
    assert "could not store" in root.get("message", "")
    resp = s.get_token(format="json", callback="cb")
    wrapper, name, obj = js(resp)
    assert (wrapper, name) == ("callback", "cb")
    assert obj["code"] == "error_processing_upload"
    redeemed = requests.post(
        s.base_url + REDEEM,
        data={"replace_token": "0" * 32},
        files={"file": ("a.png", b"x" * 4096, "image/png")},
        timeout=10,
    )
    assert "could not store" in redeemed.text and "multipart" not in redeemed.text
    log = s.stderr()
    assert "database write failed" in log
    assert "invalid_input" not in resp.text


@contextlib.contextmanager
def tiny_disk(where: Path, size: str = "400k") -> Iterator[Path]:
    """A size-limited tmpfs mounted at ``where`` (root only)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="mounting a small filesystem needs root")
def test_a_full_disk_is_a_server_side_error_in_the_asked_format(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk") as disk, serve(tmp_path, "--db", str(disk / "ref.db")) as s:
        assert_healthy(s)
        filler = disk / "filler"
        with filler.open("wb") as out, contextlib.suppress(OSError):
            while True:  # bounded by the filesystem's size
                out.write(b"\0" * 65536)
                out.flush()
        assert_server_side_error(s)
        filler.unlink()  # space again: the server recovers without a restart
        assert_healthy(s)


def test_a_broken_database_file_is_a_server_side_error(tmp_path: Path) -> None:
    db = tmp_path / "ref.db"
    with serve(tmp_path, "--db", str(db)) as s:
        assert_healthy(s)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (tmp_path / f"ref.db{suffix}").unlink()
        db.write_bytes(b"this is not an SQLite database " * 300)  # the server's next connection fails
        assert_server_side_error(s)


# ------------------------------------------------------------------ secrets at rest and in logs
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_database_is_private_and_the_access_log_shows_no_signature(tmp_path: Path) -> None:
    db = tmp_path / "ref.db"
    with serve(tmp_path, "--db", str(db)) as s:
        assert db.stat().st_mode & 0o077 == 0, oct(db.stat().st_mode)
        for extra in tmp_path.glob("ref.db-*"):
            assert extra.stat().st_mode & 0o077 == 0, extra
        answer = s.get_token("QUERY")  # the signature travels in the URL, so in the request line
        assert xml(answer).get("status") == "ok", answer.text
        sent = dict(parse_qsl(urlsplit(answer.request.url or "").query))
        signature = sent["oauth_signature"]
        # A request line the server cannot parse is logged as an error, the request line quoted.
        port = int(s.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(f"GET /x?oauth_signature={quote(signature)}&a=1 HTTP/9.9 extra\r\n\r\n".encode())
            raw.recv(4096)
    log = s.stderr()
    assert log.count("oauth_signature=<redacted>") >= 2, log
    assert signature not in log and quote(signature, safe="") not in log

    # An existing database file is tightened too.
    db.chmod(0o644)
    with serve(tmp_path, "--db", str(db), "--quiet"):
        assert db.stat().st_mode & 0o077 == 0


# ------------------------------------------------------------------ options
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "99999"], "--port 99999"),
        (["--port", "-1"], "--port -1"),
        (["--db", "{tmp}"], "is a directory"),
        (["--db", "{tmp}/missing/ref.db"], "does not exist"),
        (["--db", "{tmp}/file/ref.db"], "is not a directory"),
        (["--db", "{tmp}/garbage.db"], "--db"),
        (["--write-config", "{tmp}"], "is a directory"),
        (["--write-config", "{tmp}/missing/t.toml"], "does not exist"),
        (["--photo-id", "abc"], "--photo-id"),
    ],
)
def test_bad_options_end_in_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "garbage.db").write_bytes(b"not a database " * 100)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "conformance.reference.cli", "--quiet", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], done.stderr
    assert done.stdout == ""  # no base URL: nothing was started
