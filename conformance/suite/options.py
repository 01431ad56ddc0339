"""The run's options, declared once for both front ends, and the steps both take to start a run.

``conformance run`` (argparse) and plain pytest (``-p conformance.suite.plugin``) declare the same
options from :data:`RUN_OPTIONS`; pytest's names carry a prefix where a bare name could clash with
another plugin (``--timeout`` is pytest-timeout's). Both then use :func:`new_seed`,
:func:`start_embedded`, :func:`destructive_refusal`, :func:`apply_limit_overrides` and
:func:`new_state`, so the two ways of running the suite cannot drift apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.config import (
    EMBEDDED_SOURCE,
    ConfigError,
    TargetConfig,
    check_ca_bundle,
    check_limit,
    check_requirement_ids,
    parse_config,
)
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.suite.state import RunState

PROFILES = ("core", "full")
SETTINGS_PROFILES = ("default", "thorough", "polite")
SUITE_DIR = Path(__file__).parent
SEND_AHEAD_PER_SLOT = 8  # answers asked for ahead of their tests, per request the run may have in flight


@dataclass(frozen=True)
class RunOption:
    """One option of a run: its ``conformance run`` flag, its plain-pytest flag and how it parses.

    Values are read back under :attr:`key` (the ``conformance run`` dest) by :func:`option_values`.
    """

    cli: str
    pytest: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.dest("cli")

    def dest(self, front_end: str) -> str:
        return str(getattr(self, front_end)).lstrip("-").replace("-", "_")


def _option(cli: str, pytest: str, help: str, **kwargs: Any) -> RunOption:
    return RunOption(cli, pytest, help, kwargs)


_SLOW = "run tests that wait in real time (expiry)"
_DEADLINE = "total run deadline in seconds: no request is sent after it ([limits] run_deadline_seconds)"
_ACCEPT = (
    "a MUST requirement knowingly left unverified (repeatable): the verdict may still be "
    "CONFORMANT, and every report shows the accepted gap ([verdict] accept_unverified)"
)
_SEND_AHEAD = (
    "answers the run may have asked for ahead of the tests that judge them (default 8 per "
    "[limits] concurrency slot; 0: each test sends its requests when it runs)"
)
RUN_OPTIONS: tuple[RunOption, ...] = (
    _option(
        "--config",
        "--target-config",
        "target TOML config (default: start the embedded reference server)",
        metavar="FILE",
    ),
    _option(
        "--profile",
        "--conformance-profile",
        "core: read-only checks (default); full: also redeem tokens, which replaces the file of "
        "photo_id on the target (needs 'destructive = true' in the config)",
        choices=PROFILES,
        default="core",
    ),
    _option(
        "--report-dir",
        "--conformance-report-dir",
        "where report.html, junit.xml and results.json are written (default: reports)",
        default="reports",
        metavar="DIR",
    ),
    _option(
        "--seed",
        "--conformance-seed",
        "fix every Hypothesis draw (printed when omitted)",
        type=int,
        metavar="N",
    ),
    _option(
        "--max-examples",
        "--conformance-max-examples",
        "Hypothesis examples per property test",
        type=int,
        metavar="N",
    ),
    _option(
        "--settings",
        "--conformance-settings",
        "Hypothesis settings profile: fast default, thorough (nightly), polite (shared staging)",
        choices=SETTINGS_PROFILES,
        default="default",
    ),
    _option("--include-slow", "--include-slow", _SLOW, action="store_true", default=False),
    _option(
        "--request-budget", "--request-budget", "maximum requests sent to the target", type=int, metavar="N"
    ),
    _option("--max-rps", "--max-rps", "cap on requests per second (0 = uncapped)", type=float, metavar="X"),
    _option("--timeout", "--request-timeout", "per-request timeout in seconds", type=float, metavar="S"),
    _option("--deadline", "--conformance-deadline", _DEADLINE, type=float, metavar="S"),
    _option(
        "--ca-bundle",
        "--conformance-ca-bundle",
        "PEM file of CAs to trust for an https target (overrides ca_bundle in the config)",
        metavar="FILE",
    ),
    _option("--accept-unverified", "--accept-unverified", _ACCEPT, action="append", default=[], metavar="ID"),
    _option("--send-ahead", "--conformance-send-ahead", _SEND_AHEAD, type=int, metavar="N"),
)


def add_run_options(add: Callable[..., Any], front_end: str) -> None:
    """Declare every run option with ``add`` (argparse's ``add_argument``, pytest's ``addoption``).

    ``front_end`` is ``"cli"`` or ``"pytest"``: which of the two names each option takes.
    """
    for option in RUN_OPTIONS:
        add(getattr(option, front_end), help=option.help, **option.kwargs)


def option_values(namespace: Any, front_end: str) -> dict[str, Any]:
    """The run options' values as parsed by ``front_end``, keyed the way ``conformance run`` names them."""
    return {option.key: getattr(namespace, option.dest(front_end), None) for option in RUN_OPTIONS}


def new_seed() -> int:
    """A fresh seed for every Hypothesis draw of a run (printed, so the run can be reproduced)."""
    return random.SystemRandom().randrange(2**31)


def start_embedded() -> tuple[ReferenceServer, TargetConfig]:
    """Start the embedded reference (with its clock hook) and the config that targets it.

    The caller stops the server: that also deletes its temporary database, which holds live secrets.
    """
    server = ReferenceServer(ReferenceSettings(clock_control=True)).start()
    return server, parse_config(server.target_config(), source=EMBEDDED_SOURCE)


def destructive_refusal(profile: str, config: TargetConfig | None, flag: str = "--profile") -> str | None:
    """Why the run must not start (``full`` replaces photo_id's file), or None when it may."""
    if config is None or profile != "full" or config.destructive:
        return None
    return (
        f"{flag} full replaces the file of photo_id on the target; it needs 'destructive = true' "
        f"in {config.source}"
    )


_LIMIT_OPTIONS = tuple(  # (the [limits] key, the option that overrides it, its key in the option values)
    (key, flag, flag.lstrip("-").replace("-", "_"))
    for key, flag in (
        ("request_budget", "--request-budget"),
        ("requests_per_second", "--max-rps"),
        ("timeout_seconds", "--timeout"),
        ("run_deadline_seconds", "--deadline"),
    )
)


def check_limit_overrides(values: Mapping[str, Any]) -> None:
    """ConfigError, naming the ``conformance run`` option, for a command-line limit out of range."""
    for key, name, option in _LIMIT_OPTIONS:
        if values.get(option) is not None:
            check_limit(key, values[option], name)


def apply_limit_overrides(cfg: TargetConfig, values: Mapping[str, Any]) -> TargetConfig:
    """The config with the command line's limits (and CA bundle) applied; ConfigError names the option."""
    check_limit_overrides(values)
    if values.get("ca_bundle") is not None:
        cfg = replace(cfg, ca_bundle=check_ca_bundle(values["ca_bundle"], "--ca-bundle"))
    given = {key: values[option] for key, _, option in _LIMIT_OPTIONS if values.get(option) is not None}
    return replace(cfg, limits=replace(cfg.limits, **given))


def new_state(config: TargetConfig, values: Mapping[str, Any], *, embedded: bool) -> RunState:
    """The run state both front ends start from (``values`` as :func:`option_values` gives them).

    A fresh seed unless one is given; the MUSTs accepted as unverified are the config's
    ``[verdict]`` then ``--accept-unverified`` (ConfigError for an unknown ID).
    """
    accepted = check_requirement_ids(list(values.get("accept_unverified") or []), "--accept-unverified")
    seed = values.get("seed")
    send_ahead = values.get("send_ahead")
    if send_ahead is not None and send_ahead < 0:
        raise ConfigError(f"--send-ahead must be 0 or more, not {send_ahead}")
    return RunState(
        config=config,
        profile=values["profile"],
        include_slow=bool(values.get("include_slow")),
        seed=seed if seed is not None else new_seed(),
        settings_profile=values["settings"],
        max_examples=values.get("max_examples"),
        report_dir=Path(values["report_dir"]),
        embedded=embedded,
        accept_unverified=tuple(dict.fromkeys((*config.accept_unverified, *accepted))),
        send_ahead=send_ahead if send_ahead is not None else SEND_AHEAD_PER_SLOT * config.limits.concurrency,
    )
