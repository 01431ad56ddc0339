"""The fault table (``faults.toml``) as typed rows: realistic bugs the reference can be started with.

Each fault is one small deviation at the place it belongs: either knobs changed on the
:class:`~conformance.reference.behaviour.Behaviour`, or an ``if behaviour.fault(NAME)`` at the
single step of the pipeline that owns the behaviour. ``detected_by`` names the requirement IDs the
suite is expected to fail for it; ``conformance selftest`` checks that it does. The rows are data
(one TOML table each), so a new fault is a new row there plus, without knobs, its one inline check.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Fault:
    name: str
    group: str
    description: str  # the real-world bug it models
    detected_by: tuple[str, ...]  # requirement IDs expected to catch it
    profile: str = "core"  # the suite profile needed to detect it
    knobs: Mapping[str, Any] = field(default_factory=dict)  # none: an inline behaviour.fault() check


def _load(path: Path) -> list[Fault]:
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["fault"]
    return [Fault(**{**row, "detected_by": tuple(row["detected_by"])}) for row in rows]


FAULT_LIST: list[Fault] = _load(Path(__file__).with_name("faults.toml"))
CORE_FAULTS: list[Fault] = [f for f in FAULT_LIST if f.profile == "core"]
REDEEM_FAULTS: list[Fault] = [f for f in FAULT_LIST if f.profile != "core"]
"""The redeem lifecycle rows: they need the "full" profile."""
FAULTS: dict[str, Fault] = {f.name: f for f in FAULT_LIST}
