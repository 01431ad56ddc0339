"""Conformant variants (``variants.toml``): servers that differ from the reference only where the
documents leave freedom.

``conformance serve --variant NAME`` starts one; ``conformance selftest`` requires the suite to
PASS every one of them, which is how the suite proves it does not hard-code the reference's
incidental choices (message texts, element order, Content-Type labels, token length...).
A variant is a set of :class:`~conformance.reference.behaviour.Behaviour` knobs plus whatever it
must declare in the target config (e.g. ``bounds_policy = "reject"``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Variant:
    name: str
    description: str  # the permitted freedom it takes, and where the spec permits it
    knobs: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)  # target-config keys it must declare
    settings: Mapping[str, Any] = field(default_factory=dict)  # ReferenceSettings it is served with
    profile: str = "core"  # the suite profile that exercises the difference

    def target_config(self) -> dict[str, Any]:
        """The target-config entries this variant needs (merged over the server's own)."""
        return dict(self.config)


def _load(path: Path) -> list[Variant]:
    return [Variant(**row) for row in tomllib.loads(path.read_text(encoding="utf-8"))["variant"]]


VARIANT_LIST: list[Variant] = _load(Path(__file__).with_name("variants.toml"))
VARIANTS: dict[str, Variant] = {v.name: v for v in VARIANT_LIST}
