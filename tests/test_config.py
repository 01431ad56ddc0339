"""Broken configs are refused with one line naming the key, exit 2, before any request is sent."""

import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.commands.cli import main
from conformance.config import ConfigError, check_callback_listen, load_config, parse_config
from tests.suite_runs import conformance_in_process

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
        ({"base_url": "https://h.example/?a=1"}, "base_url"),
        ({"base_url": "https://h.example/#top"}, "base_url"),
        ({"base_url": "https://user:pw@h.example"}, "base_url"),
        ({"base_url": "https://h.example:0"}, "base_url"),
        ({"callback_base_url": "http://cb.example:0/hooks"}, "callback_base_url"),
        ({"base_url": "http://[::1:18080"}, "base_url"),
        ({"callback_base_url": "http://[zz]:80/"}, "callback_base_url"),
        ({"clock_control_url": "http://[zz]:80/"}, "clock_control_url"),
        ({"limits": {"timeout_seconds": 0}}, "limits.timeout_seconds"),
        ({"limits": {"timeout_seconds": math.inf}}, "limits.timeout_seconds"),
        ({"limits": {"timeout_seconds": math.nan}}, "limits.timeout_seconds"),
        ({"limits": {"timeout_seconds": 1e12}}, "limits.timeout_seconds"),
        ({"limits": {"run_deadline_seconds": 1e300}}, "limits.run_deadline_seconds"),
        ({"limits": {"request_budget": 0}}, "limits.request_budget"),
        ({"limits": {"request_budget": 2.5}}, "limits.request_budget"),
        ({"limits": {"concurrency": 0}}, "limits.concurrency"),
        ({"limits": {"max_body_bytes": -5}}, "limits.max_body_bytes"),
        ({"limits": {"max_header_bytes": 0}}, "limits.max_header_bytes"),
        ({"limits": {"max_header_bytes": 1.5}}, "limits.max_header_bytes"),
        ({"limits": {"requests_per_second": 1e-300}}, "limits.requests_per_second"),
        ({"limits": {"requests_per_second": math.inf}}, "limits.requests_per_second"),
        ({"limits": {"request_budget": True}}, "limits.request_budget"),
        ({"verdict": {"accept_unverified": "AUTH-READ-DENIED"}}, "verdict.accept_unverified"),
        ({"verdict": {"accept": ["AUTH-READ-DENIED"]}}, "verdict.accept"),
    ],
)
def test_broken_config_names_the_key(monkeypatch: pytest.MonkeyPatch, changes: dict, key: str) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    with pytest.raises(ConfigError) as err:
        parse_config(_with(**changes))
    assert str(err.value).startswith(f"{key}:"), str(err.value)


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"limit": {"request_budget": 5}}, "limit: unknown key (did you mean 'limits'?)"),
        ({"timeout_secs": 5}, "timeout_secs: unknown key (did you mean '[limits] timeout_seconds'?)"),
        (
            {"limits": {"timeout_secs": 5}},
            "limits.timeout_secs: unknown key (did you mean 'timeout_seconds'?)",
        ),
        ({"photoid": "1"}, "photoid: unknown key (did you mean 'photo_id'?)"),
        ({"frobnicate": 1}, "frobnicate: unknown key"),
        (
            {"credentials": {"write": {**GOOD["credentials"]["write"], "consumer_secrt": "x"}}},
            "credentials.write.consumer_secrt: unknown key (did you mean 'consumer_secret'?)",
        ),
        (
            {"credentials": {"write": {**GOOD["credentials"]["write"], "region": "eu"}}},
            "credentials.write.region: unknown key",
        ),
        (
            {"credentials": {**GOOD["credentials"], "wirte": GOOD["credentials"]["write"]}},
            "credentials.wirte: unknown level (expected one of read, write, admin) (did you mean 'write'?)",
        ),
        (
            {"verdict": {"accept_unverified": ["AUTH-READ-DENIED", "AUTH-REED-DENIED"]}},
            "verdict.accept_unverified: unknown requirement ID 'AUTH-REED-DENIED' "
            "(did you mean 'AUTH-READ-DENIED'?)",
        ),
    ],
)
def test_unknown_keys_get_a_did_you_mean(monkeypatch: pytest.MonkeyPatch, changes: dict, line: str) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    with pytest.raises(ConfigError) as err:
        parse_config(_with(**changes))
    assert str(err.value) == line


def test_accept_unverified_ids_are_kept_in_order_without_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    ids = ["AUTH-READ-DENIED", "AUTH-ADMIN-GRANTED", "AUTH-READ-DENIED"]
    cfg = parse_config(_with(verdict={"accept_unverified": ids}))
    assert cfg.accept_unverified == ("AUTH-READ-DENIED", "AUTH-ADMIN-GRANTED")
    assert parse_config(_with()).accept_unverified == ()


def test_whole_and_zero_limits_that_make_sense_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    cfg = parse_config(_with(limits={"request_budget": 50.0, "requests_per_second": 0, "timeout_seconds": 2}))
    assert cfg.limits.request_budget == 50 and isinstance(cfg.limits.request_budget, int)
    assert cfg.limits.requests_per_second == 0.0 and cfg.limits.timeout_seconds == 2.0


def test_ca_bundle_must_be_pem_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CS_TEST", "x")
    not_pem = tmp_path / "bundle.pem"
    not_pem.write_text("this is not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^ca_bundle: not a PEM file of CA certificates: "):
        parse_config(_with(ca_bundle=str(not_pem)))
    with pytest.raises(ConfigError, match=r"^ca_bundle: file not found: "):
        parse_config(_with(ca_bundle=str(tmp_path / "missing.pem")))


@pytest.mark.parametrize(
    "value", ["foo", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "bad host!:80", ":x"]
)
def test_bad_callback_listen_values(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^CONFORMANCE_CALLBACK_LISTEN: "):
        check_callback_listen(value, "CONFORMANCE_CALLBACK_LISTEN")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:9000", ("127.0.0.1", 9000)), ("[::1]:80", ("::1", 80)), (":8080", ("", 8080))],
)
def test_good_callback_listen_values(value: str, expected: tuple[str, int]) -> None:
    assert check_callback_listen(value, "CONFORMANCE_CALLBACK_LISTEN") == expected


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
        proc = conformance_in_process("run", "--config", str(cfg), "--report-dir", str(tmp_path / "r"))
    finally:
        counter.close()
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "conformance: config error: credentials.write.consumer_secret: environment variable "
        "SURELY_UNSET_VAR_X is not set"
    ]
    assert counter.count == 0


def _counted_config(tmp_path: Path, counter: _ConnectionCounter, extra: str = "") -> Path:
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        f'base_url = "http://127.0.0.1:{counter.sock.getsockname()[1]}"\nphoto_id = "1"\n{extra}'
        '[credentials.write]\nconsumer_key = "k"\nconsumer_secret = "c"\n'
        'access_token = "t"\naccess_token_secret = "s"\n',
        encoding="utf-8",
    )
    return cfg


@pytest.fixture
def counter() -> Iterator[_ConnectionCounter]:
    c = _ConnectionCounter()
    yield c
    c.close()


NOT_PEM = "not-pem.txt"


@pytest.mark.parametrize(
    ("extra", "args", "env", "line"),
    [
        (
            "[limit]\nrequest_budget = 5\n",
            (),
            {},
            "config error: limit: unknown key (did you mean 'limits'?)",
        ),
        (
            "timeout_secs = 3\n",
            (),
            {},
            "config error: timeout_secs: unknown key (did you mean '[limits] timeout_seconds'?)",
        ),
        (
            "[limits]\ntimeout_seconds = inf\n",
            (),
            {},
            "config error: limits.timeout_seconds: must be a finite number, got inf",
        ),
        (
            "[limits]\nrequest_budget = 2.5\n",
            (),
            {},
            "config error: limits.request_budget: must be a whole number, got 2.5",
        ),
        (
            'clock_control_url = "http://[zz]:80/"\n',
            (),
            {},
            "config error: clock_control_url: not a valid URL: 'zz' does not appear to be an IPv4 or IPv6",
        ),
        ("", ("--max-examples", "0"), {}, "--max-examples: must be at least 1, got 0"),
        ("", ("--timeout", "1e12"), {}, "config error: --timeout: must be at most 86400 seconds, got 1e+12"),
        ("", ("--timeout", "nan"), {}, "config error: --timeout: must be a finite number, got nan"),
        (
            "",
            ("--deadline", "0"),
            {},
            "config error: --deadline: must be a positive number of seconds, got 0.0",
        ),
        ("", ("--request-budget", "0"), {}, "config error: --request-budget: must be at least 1, got 0"),
        (
            "",
            ("--max-rps", "-1"),
            {},
            "config error: --max-rps: must be 0 (uncapped) or at least 0.001, got -1.0",
        ),
        (
            "",
            ("--ca-bundle", NOT_PEM),
            {},
            "config error: --ca-bundle: not a PEM file of CA certificates: ",
        ),
        (
            "",
            (),
            {"CONFORMANCE_CALLBACK_LISTEN": "localhost"},
            "config error: CONFORMANCE_CALLBACK_LISTEN: must be host:port with a port from 1 to 65535, "
            "got 'localhost'",
        ),
        ("", ("--report-dir", NOT_PEM), {}, f"--report-dir {NOT_PEM}: exists and is not a directory"),
        ("", ("--report-dir", f"{NOT_PEM}/sub"), {}, f"--report-dir {NOT_PEM}/sub: not a writable directory"),
    ],
)
def test_cli_mistakes_exit_2_with_one_line_before_any_request(
    tmp_path: Path,
    counter: _ConnectionCounter,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    args: tuple[str, ...],
    env: dict[str, str],
    line: str,
) -> None:
    """Config, option and environment mistakes: one stderr line, exit 2, not one connection."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / NOT_PEM).write_text("plain text, not a certificate\n", encoding="utf-8")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = _counted_config(tmp_path, counter, extra)
    argv = ["run", "--config", str(cfg), *args]
    if "--report-dir" not in args:
        argv += ["--report-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith(f"conformance: {line}"), err
    assert counter.count == 0
    assert not (tmp_path / "r" / "results.json").exists()


def test_full_profile_without_destructive_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        'base_url = "http://127.0.0.1:9"\nphoto_id = "1"\ndestructive = false\n'
        '[credentials.write]\nconsumer_key = "k"\nconsumer_secret = "c"\n'
        'access_token = "t"\naccess_token_secret = "s"\n',
        encoding="utf-8",
    )
    proc = conformance_in_process(
        "run", "--config", str(cfg), "--profile", "full", "--report-dir", str(tmp_path / "r")
    )
    assert proc.returncode == 2
    assert "destructive = true" in proc.stderr
