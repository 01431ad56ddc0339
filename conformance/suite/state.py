"""The run state the pytest side shares: config, client, measured facts and the test records.

Plain pytest (``-p conformance.suite.plugin``) and ``conformance run`` both build one; the results
layer never sees it, only the plain records and facts it holds (see :mod:`conformance.suite.finish`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.checks import measure_skew
from conformance.config import TargetConfig
from conformance.model.exchange import Exchange
from conformance.results.files import ReportWriteError
from conformance.suite.budget import Budget, budget_for
from conformance.transport.client import TargetClient


@dataclass
class RunState:
    """What the whole run shares: the config, the client, measured facts and the test records."""

    config: TargetConfig
    profile: str
    include_slow: bool
    seed: int
    settings_profile: str
    max_examples: int | None
    report_dir: Path
    embedded: bool
    client: TargetClient | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    skew_samples: list[Exchange] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    preflight_error: str | None = None
    partial: bool = False  # a -k/-m selection ran only part of the suite
    selection: str = ""  # that selection as given ("-k 'expr'"), for the reasons of unverified MUSTs
    accept_unverified: tuple[str, ...] = ()  # MUSTs the user accepts as unverified (config + CLI)
    interrupted: str | None = None  # "SIGINT" / "SIGTERM" when a signal cut the run short
    finishing: bool = False  # results are being written: a second signal must not abort that
    collected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> requirement IDs, to run
    deselected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> IDs, left out by -k/-m
    receiver: dict[str, Any] | None = None  # the callback receiver's summary (listen, dropped requests)
    write_errors: list[ReportWriteError] = field(default_factory=list)  # report files not written
    send_ahead: int = 0  # answers that may be asked for ahead of their tests (0: none, see .prefetch)
    sent_ahead: dict[str, Any] | None = None  # how sending ahead went, once the tests ran (results.json)

    @property
    def budget(self) -> Budget:
        """Every per-test number of this run's settings profile (``--max-examples`` applied)."""
        return budget_for(self.settings_profile, self.max_examples)

    @property
    def skew(self) -> float:
        return measure_skew(self.skew_samples) or 0.0
