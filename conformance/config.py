"""Target configuration: the TOML file that tells the suite where the server is and how to sign.

A broken config must be reported before any request is sent, as one line naming the key
(exit code 2). Secrets may be given as ``env:NAME`` so they never live in the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

LEVELS = ("read", "write", "admin")
BOUNDS_POLICIES = ("clamp", "reject", "either")
CREDENTIAL_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
SECRET_KEYS = ("consumer_secret", "access_token_secret")

BoundsPolicy = Literal["clamp", "reject", "either"]


class ConfigError(ValueError):
    """A problem with the target configuration; the message names the key."""


@dataclass(frozen=True)
class Credentials:
    """One OAuth 1.0a credential set; ``repr`` never shows the secrets."""

    level: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)
    # Where each secret came from ("env:NAME" or "file"), so reproductions can point at it.
    secret_sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.consumer_secret, self.access_token_secret) if s]

    def as_table(self) -> dict[str, str]:
        """The four values as a ``[credentials.LEVEL]`` table of the target config."""
        return {key: getattr(self, key) for key in CREDENTIAL_KEYS}


@dataclass(frozen=True)
class RunLimits:
    """Politeness and robustness limits; all optional in the TOML ``[limits]`` table."""

    request_budget: int = 20000
    requests_per_second: float = 0.0  # 0 = uncapped
    timeout_seconds: float = 10.0
    max_body_bytes: int = 4 * 1024 * 1024
    run_deadline_seconds: float = 900.0
    concurrency: int = 8


@dataclass(frozen=True)
class TargetConfig:
    base_url: str
    photo_id: str
    credentials: dict[str, Credentials]
    unknown_photo_id: str | None = None
    destructive: bool = False
    callback_base_url: str | None = None
    clock_control_url: str | None = None
    bounds_policy: BoundsPolicy = "either"
    ca_bundle: str | None = None
    limits: RunLimits = field(default_factory=RunLimits)
    source: str = "<embedded reference>"

    def secrets(self) -> list[str]:
        """Every secret value the run must never write or print."""
        return [s for c in self.credentials.values() for s in c.secrets()]

    def api_url(self, method_path: str) -> str:
        return self.base_url.rstrip("/") + method_path


def _require_str(data: dict[str, Any], key: str, where: str = "") -> str:
    name = f"{where}{key}"
    if key not in data:
        raise ConfigError(f"{name}: missing required key")
    value = data[key]
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{name}: must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ConfigError(f"{name}: must not be empty")
    return text


def _resolve_env(value: str, name: str) -> tuple[str, str]:
    """Resolve ``env:NAME`` references; returns (value, source)."""
    if value.startswith("env:"):
        var = value[4:].strip()
        if not var:
            raise ConfigError(f"{name}: 'env:' needs a variable name")
        resolved = os.environ.get(var)
        if resolved is None or resolved == "":
            raise ConfigError(f"{name}: environment variable {var} is not set")
        return resolved, f"env:{var}"
    return value, "file"


def _check_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: not an http(s) URL: {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ConfigError(f"{name}: bad port in URL {value!r}") from exc
    return value


def _optional_url(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string")
    value, _ = _resolve_env(value.strip(), key) if value.strip() else ("", "")
    return _check_url(value, key) if value else None


def _credentials(data: dict[str, Any]) -> dict[str, Credentials]:
    table = data.get("credentials")
    if not isinstance(table, dict) or "write" not in table:
        raise ConfigError("credentials.write: missing required table [credentials.write]")
    result: dict[str, Credentials] = {}
    for level, entry in table.items():
        where = f"credentials.{level}."
        if level not in LEVELS:
            raise ConfigError(f"credentials.{level}: unknown level (expected one of {', '.join(LEVELS)})")
        if not isinstance(entry, dict):
            raise ConfigError(f"credentials.{level}: must be a table")
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key in CREDENTIAL_KEYS:
            raw = _require_str(entry, key, where)
            values[key], sources[key] = _resolve_env(raw, where + key)
        result[level] = Credentials(level=level, secret_sources=sources, **values)
    return result


def _limits(data: dict[str, Any]) -> RunLimits:
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise ConfigError("limits: must be a table")
    defaults = RunLimits()
    kwargs: dict[str, Any] = {}
    for key, default in defaults.__dict__.items():
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"limits.{key}: must be a non-negative number")
        kwargs[key] = type(default)(value)
    unknown = set(table) - set(defaults.__dict__)
    if unknown:
        raise ConfigError(f"limits.{sorted(unknown)[0]}: unknown key")
    return RunLimits(**kwargs)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> TargetConfig:
    """Validate a decoded config mapping; raises ConfigError naming the first bad key."""
    base_url = _check_url(_require_str(data, "base_url"), "base_url")
    photo_id = _require_str(data, "photo_id")
    unknown = data.get("unknown_photo_id")
    unknown_id = str(unknown).strip() if unknown not in (None, "") else None
    destructive = data.get("destructive", False)
    if not isinstance(destructive, bool):
        raise ConfigError("destructive: must be true or false")
    policy = data.get("bounds_policy", "either")
    if policy not in BOUNDS_POLICIES:
        raise ConfigError(f"bounds_policy: must be one of {', '.join(BOUNDS_POLICIES)}, got {policy!r}")
    ca_bundle = data.get("ca_bundle") or None
    if ca_bundle is not None and not Path(str(ca_bundle)).is_file():
        raise ConfigError(f"ca_bundle: file not found: {ca_bundle}")
    return TargetConfig(
        base_url=base_url.rstrip("/"),
        photo_id=photo_id,
        unknown_photo_id=unknown_id,
        destructive=destructive,
        callback_base_url=_optional_url(data, "callback_base_url"),
        clock_control_url=_optional_url(data, "clock_control_url"),
        bounds_policy=policy,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        credentials=_credentials(data),
        limits=_limits(data),
        source=source,
    )


def load_config(path: str | os.PathLike[str]) -> TargetConfig:
    """Read and validate a target TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"--config: file not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config: cannot read {p}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {p} is not valid TOML: {exc}") from exc
    return parse_config(data, source=str(p))
