"""Target configuration: the TOML file that tells the suite where the server is and how to sign.

A broken config must be reported before any request is sent, as one line naming the key
(exit code 2). Secrets may be given as ``env:NAME`` so they never live in the file. Unknown keys
are errors with a did-you-mean: a misspelt ``[limit]`` table silently ignored would run the suite
with limits the user never chose.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from conformance.catalog import load_catalog
from conformance.model.credentials import CREDENTIAL_KEYS, CREDENTIAL_LEVELS, Credentials

EMBEDDED_SOURCE = "<embedded reference>"  # the source of the config when no file is given

SECRET_KEYS = ("consumer_secret", "access_token_secret")

VERDICT_KEYS = ("accept_unverified",)
TOP_LEVEL_KEYS = (
    "base_url",
    "photo_id",
    "unknown_photo_id",
    "destructive",
    "callback_base_url",
    "clock_control_url",
    "bounds_policy",
    "ca_bundle",
    "credentials",
    "limits",
    "verdict",
)
# Above these, socket and sleep calls overflow the platform's time_t (and no run needs more).
MAX_TIMEOUT_SECONDS = 24 * 3600
MAX_DEADLINE_SECONDS = 30 * 24 * 3600
MIN_REQUESTS_PER_SECOND = 0.001  # one request per 1000 s; 0 means uncapped
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

BoundsPolicy = Literal["clamp", "reject", "either"]
BOUNDS_POLICIES: tuple[BoundsPolicy, ...] = get_args(BoundsPolicy)


class ConfigError(ValueError):
    """A problem with the target configuration; the message names the key."""


@dataclass(frozen=True)
class RunLimits:
    """Politeness and robustness limits; all optional in the TOML ``[limits]`` table."""

    request_budget: int = 20000
    requests_per_second: float = 0.0  # 0 = uncapped
    timeout_seconds: float = 10.0
    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024  # status line and headers of one answer; more fails as oversize
    run_deadline_seconds: float = 900.0
    # Requests in flight at once. 16 hides a distant target's round trips (a run 50 ms away takes
    # about as long as one on loopback, where 8 took 1.4-1.5x as long); the rate a target sees
    # stays what one 8-wide run on loopback made, and the budget, the rate cap, back-pressure and
    # the circuit breaker hold whatever the width (docs/performance.md, "A faithful relay,
    # concurrency 16, shared answers and chains").
    concurrency: int = 16


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
    source: str = EMBEDDED_SOURCE
    # MUST requirement IDs the user knowingly accepts as unverified ([verdict] accept_unverified).
    accept_unverified: tuple[str, ...] = ()

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
        if resolved is None:
            raise ConfigError(f"{name}: environment variable {var} is not set")
        if resolved == "":  # a CI secret that does not exist in this scope expands to ""
            raise ConfigError(f"{name}: environment variable {var} is empty")
        return resolved, f"env:{var}"
    return value, "file"


def _check_url(value: str, name: str, *, base: bool = False) -> str:
    """An http(s) URL with a host and a usable port; ``base``: also a prefix the suite appends paths to."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # an unclosed '[' or a bracketed host that is no IPv6 address
        raise ConfigError(
            f"{name}: not a valid URL: {exc} (a bracketed host must be an IPv6 address)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: not an http(s) URL: {value!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name}: bad port in URL {value!r}") from exc
    if port == 0:
        raise ConfigError(f"{name}: port 0 in URL {value!r} (give the port the server listens on)")
    if base:
        # The suite appends /api/... to it: a query or fragment would end up in the middle of the URL.
        if "?" in value:
            raise ConfigError(f"{name}: must not carry a query ('?...'): {value!r}")
        if "#" in value:
            raise ConfigError(f"{name}: must not carry a fragment ('#...'): {value!r}")
    return value


def _optional_url(data: dict[str, Any], key: str, *, base: bool = False) -> str | None:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string")
    value, _ = _resolve_env(value.strip(), key) if value.strip() else ("", "")
    return _check_url(value, key, base=base) if value else None


def did_you_mean(word: str, choices: Any) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reject_unknown(table: dict[str, Any], known: tuple[str, ...], where: str, extra: dict[str, str]) -> None:
    """ConfigError for the first key of ``table`` not in ``known``; ``extra``: more suggestions.

    ``extra`` maps a word to how it should be written here (``timeout_secs`` at the top level
    suggests ``[limits] timeout_seconds``).
    """
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, [*known, *extra], n=1, cutoff=0.6)
        hint = f" (did you mean {extra.get(close[0], repr(close[0]))}?)" if close else ""
        raise ConfigError(f"{where}{key}: unknown key{hint}")


def _credentials(data: dict[str, Any]) -> dict[str, Credentials]:
    table = data.get("credentials")
    if not isinstance(table, dict) or "write" not in table:
        raise ConfigError("credentials.write: missing required table [credentials.write]")
    result: dict[str, Credentials] = {}
    for level, entry in table.items():
        where = f"credentials.{level}."
        if level not in CREDENTIAL_LEVELS:
            raise ConfigError(
                f"credentials.{level}: unknown level (expected one of {', '.join(CREDENTIAL_LEVELS)})"
                f"{did_you_mean(level, CREDENTIAL_LEVELS)}"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"credentials.{level}: must be a table")
        _reject_unknown(entry, CREDENTIAL_KEYS, where, {})
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key in CREDENTIAL_KEYS:
            raw = _require_str(entry, key, where)
            values[key], sources[key] = _resolve_env(raw, where + key)
        result[level] = Credentials(level=level, secret_sources=sources, **values)
    return result


LIMIT_KEYS = tuple(RunLimits().__dict__)


def check_limit(key: str, value: Any, name: str) -> int | float:
    """One ``[limits]`` value (or its command-line override ``name``), validated and converted.

    Every limit must be a finite positive number; the whole-number ones (budget, body cap,
    concurrency) must be whole; requests_per_second may also be 0 (uncapped). Timeouts and
    deadlines are bounded so socket and sleep calls cannot overflow.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name}: must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value}")
    default = getattr(RunLimits(), key)
    if isinstance(default, int):
        if value != int(value):
            raise ConfigError(f"{name}: must be a whole number, got {value}")
        if value < 1:
            raise ConfigError(f"{name}: must be at least 1, got {value:g}")
        return int(value)
    if key == "requests_per_second":
        if value != 0 and not value >= MIN_REQUESTS_PER_SECOND:
            raise ConfigError(
                f"{name}: must be 0 (uncapped) or at least {MIN_REQUESTS_PER_SECOND}, got {value}"
            )
        return float(value)
    if value <= 0:
        raise ConfigError(f"{name}: must be a positive number of seconds, got {value}")
    cap = MAX_TIMEOUT_SECONDS if key == "timeout_seconds" else MAX_DEADLINE_SECONDS
    if value > cap:
        raise ConfigError(f"{name}: must be at most {cap} seconds, got {value:g}")
    return float(value)


def _limits(data: dict[str, Any]) -> RunLimits:
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise ConfigError("limits: must be a table")
    _reject_unknown(table, LIMIT_KEYS, "limits.", {})
    return RunLimits(
        **{key: check_limit(key, table[key], f"limits.{key}") for key in LIMIT_KEYS if key in table}
    )


def check_ca_bundle(value: Any, name: str) -> str:
    """A readable PEM file with at least one CA certificate (what ``requests`` needs for ``verify``)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: must be the path of a PEM file")
    if not Path(value).is_file():
        raise ConfigError(f"{name}: file not found: {value}")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=value)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(f"{name}: not a PEM file of CA certificates: {value} ({exc})") from exc
    return value


def check_callback_listen(value: str, name: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; an empty host means all interfaces) for the callback receiver."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{name}: must be host:port with a port from 1 to 65535, got {value!r}")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare:
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            if not _HOSTNAME.match(bare):
                raise ConfigError(
                    f"{name}: {host!r} is not an IP address or host name (in {value!r})"
                ) from None
    return bare, int(port)


def _accept_unverified(data: dict[str, Any]) -> tuple[str, ...]:
    """``[verdict] accept_unverified``: requirement IDs, each checked against the catalog."""
    table = data.get("verdict", {})
    if not isinstance(table, dict):
        raise ConfigError("verdict: must be a table")
    _reject_unknown(table, VERDICT_KEYS, "verdict.", {})
    ids = table.get("accept_unverified", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ConfigError("verdict.accept_unverified: must be a list of requirement IDs")
    return check_requirement_ids(ids, "verdict.accept_unverified")


def check_requirement_ids(ids: list[str] | tuple[str, ...], name: str) -> tuple[str, ...]:
    """Requirement IDs as given, deduplicated in order; an ID not in the catalog is a ConfigError."""
    catalog = load_catalog()
    out: list[str] = []
    for rid in ids:
        rid = rid.strip()
        if rid not in catalog:
            raise ConfigError(f"{name}: unknown requirement ID {rid!r}{did_you_mean(rid, catalog)}")
        if rid not in out:
            out.append(rid)
    return tuple(out)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> TargetConfig:
    """Validate a decoded config mapping; raises ConfigError naming the first bad key."""
    suggestions = {k: f"'[limits] {k}'" for k in LIMIT_KEYS}
    suggestions.update({k: f"'[verdict] {k}'" for k in VERDICT_KEYS})
    suggestions.update({k: f"'[credentials.write] {k}'" for k in CREDENTIAL_KEYS})
    _reject_unknown(data, TOP_LEVEL_KEYS, "", suggestions)
    base_url = _check_url(_require_str(data, "base_url"), "base_url", base=True)
    if "@" in urlsplit(base_url).netloc:  # the message never repeats the URL: it would show a password
        raise ConfigError(
            "base_url: must not carry user:password@ (requests are signed with [credentials.*])"
        )
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
    if ca_bundle is not None:
        ca_bundle = check_ca_bundle(ca_bundle, "ca_bundle")
    return TargetConfig(
        base_url=base_url.rstrip("/"),
        photo_id=photo_id,
        unknown_photo_id=unknown_id,
        destructive=destructive,
        callback_base_url=_optional_url(data, "callback_base_url", base=True),
        clock_control_url=_optional_url(data, "clock_control_url"),
        bounds_policy=policy,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        credentials=_credentials(data),
        limits=_limits(data),
        source=source,
        accept_unverified=_accept_unverified(data),
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
