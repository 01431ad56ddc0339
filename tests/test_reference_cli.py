"""Reference server: the ``serve`` command and the target config it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import requests
from requests_oauthlib import OAuth1

from conformance.model.credentials import Credentials
from conformance.reference import ReferenceServer, ReferenceSettings, write_target_config
from tests.reference_helpers import GET_TOKEN, PHOTO_ID, xml

ROOT = Path(__file__).resolve().parents[1]


def test_serve_writes_a_parseable_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "target.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance.reference.cli",
            "--write-config",
            str(cfg),
            "--enable-clock-control",
            "--bounds-policy",
            "reject",
            "--photo-id",
            "424242",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        assert data["base_url"] == base_url
        assert data["photo_id"] == "424242"
        assert data["unknown_photo_id"] == "999999999"
        assert data["destructive"] is True
        assert data["callback_base_url"] == ""
        assert data["clock_control_url"] == base_url + "/_test/clock"
        assert data["bounds_policy"] == "reject"
        assert set(data["credentials"]) == {"read", "write", "admin"}
        for creds in data["credentials"].values():
            assert set(creds) == {"consumer_key", "consumer_secret", "access_token", "access_token_secret"}

        w = data["credentials"]["write"]
        auth = OAuth1(w["consumer_key"], w["consumer_secret"], w["access_token"], w["access_token_secret"])
        resp = requests.get(base_url + GET_TOKEN, params={"photo_id": "424242"}, auth=auth, timeout=10)
        assert xml(resp).get("status") == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_write_target_config_escapes_and_round_trips(tmp_path: Path) -> None:
    odd = Credentials(
        level="write",
        consumer_key='key "quoted" \\ back',
        consumer_secret="sécret\ttab",
        access_token="tok",
        access_token_secret="s",
    )
    creds = {"write": odd}
    for level in ("read", "admin"):
        creds[level] = Credentials(level, f"{level}-k", f"{level}-s", f"{level}-t", f"{level}-ts")
    settings = ReferenceSettings(credentials=creds, public_url="https://videos.example.com")
    with ReferenceServer(settings) as server:
        path = tmp_path / "t.toml"
        write_target_config(server, path)
        assert tomllib.loads(path.read_text(encoding="utf-8")) == server.target_config()
        assert server.target_config()["base_url"] == "https://videos.example.com"
        assert server.target_config()["clock_control_url"] == ""
        if os.name == "posix":
            assert path.stat().st_mode & 0o077 == 0
        # The configured credentials are the ones the server accepts.
        auth = OAuth1(odd.consumer_key, odd.consumer_secret, odd.access_token, odd.access_token_secret)
        resp = requests.get(server.base_url + GET_TOKEN, params={"photo_id": PHOTO_ID}, auth=auth, timeout=10)
        assert xml(resp).get("status") == "ok"
