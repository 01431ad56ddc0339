"""Broken configs are refused with one line naming the key, exit 2, before any request is sent."""

import socket
import threading
from pathlib import Path

import pytest

from conformance.config import ConfigError, load_config, parse_config
from tests.suite_runs import run_suite

GOOD = {
    "base_url": "https://staging.example.com",
    "photo_id": "123456",
    "credentials": {
        "write": {
            "consumer_key": "ck",
            "consumer_secret": "env:CS_TEST",
            "access_token": "at",
            "access_token_secret": "ats",
        }
    },
}


def _with(**changes: object) -> dict:
    data = {**GOOD, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_a_good_config_resolves_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CS_TEST", "from-env")
    cfg = parse_config(_with())
    assert cfg.credentials["write"].consumer_secret == "from-env"
    assert cfg.credentials["write"].secret_sources["consumer_secret"] == "env:CS_TEST"
    assert cfg.bounds_policy == "either" and cfg.destructive is False
    assert "from-env" not in repr(cfg)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"base_url": None}, "base_url"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "http://host:99999"}, "base_url"),
        ({"photo_id": None}, "photo_id"),
        ({"bounds_policy": "maybe"}, "bounds_policy"),
        ({"destructive": "yes"}, "destructive"),
        ({"clock_control_url": "not a url"}, "clock_control_url"),
        ({"credentials": {}}, "credentials.write"),
        ({"credentials": {"write": {"consumer_key": "ck"}}}, "credentials.write.consumer_secret"),
        (
            {"credentials": {**GOOD["credentials"], "super": GOOD["credentials"]["write"]}},
            "credentials.super",
        ),
        ({"limits": {"timeout_seconds": -1}}, "limits.timeout_seconds"),
        ({"limits": {"speed": 1}}, "limits.speed"),
    ],
)
def test_broken_config_names_the_key(monkeypatch: pytest.MonkeyPatch, changes: dict, key: str) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    with pytest.raises(ConfigError) as err:
        parse_config(_with(**changes))
    assert str(err.value).startswith(f"{key}:"), str(err.value)


def test_unset_env_var_names_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CS_TEST", raising=False)
    with pytest.raises(
        ConfigError, match=r"^credentials\.write\.consumer_secret: environment variable CS_TEST"
    ):
        parse_config(_with())


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("base_url = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


class _ConnectionCounter:
    """A listening socket that only counts connection attempts (the suite must make none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.count = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def test_cli_broken_config_exits_2_before_any_request(tmp_path: Path) -> None:
    counter = _ConnectionCounter()
    try:
        cfg = tmp_path / "t.toml"
        cfg.write_text(
            f'base_url = "http://127.0.0.1:{counter.sock.getsockname()[1]}"\nphoto_id = "1"\n'
            '[credentials.write]\nconsumer_key = "k"\nconsumer_secret = "env:SURELY_UNSET_VAR_X"\n'
            'access_token = "t"\naccess_token_secret = "s"\n',
            encoding="utf-8",
        )
        proc = run_suite("--config", str(cfg), "--report-dir", str(tmp_path / "r"))
    finally:
        counter.close()
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "conformance: config error: credentials.write.consumer_secret: environment variable "
        "SURELY_UNSET_VAR_X is not set"
    ]
    assert counter.count == 0


def test_full_profile_without_destructive_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        'base_url = "http://127.0.0.1:9"\nphoto_id = "1"\ndestructive = false\n'
        '[credentials.write]\nconsumer_key = "k"\nconsumer_secret = "c"\n'
        'access_token = "t"\naccess_token_secret = "s"\n',
        encoding="utf-8",
    )
    proc = run_suite("--config", str(cfg), "--profile", "full", "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "destructive = true" in proc.stderr
