"""The requirement catalog: loads ``catalog.toml`` and renders it as a document.

Tests name the requirements they verify with ``@requirement("ID", ...)``; the plugin refuses
unknown IDs and the project's own tests check that every entry has a test.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

GROUP_ORDER = (
    "AUTH",
    "HTTP",
    "FORMAT",
    "RESPONSE",
    "PARAMS",
    "TIME",
    "TOKEN",
    "PHOTO",
    "INPUT",
    "ERROR",
    "REDEEM",
    "CALLBACK",
    "REDEEM-ERRORS",
    "LIMITS",
    "EXPIRY",
    "BACKGROUND",
    "STATEFUL",
)


@dataclass(frozen=True)
class Requirement:
    id: str
    group: str
    level: Literal["MUST", "SHOULD"]
    profile: Literal["core", "full"]
    spec: str
    summary: str
    position: str = ""

    def in_profile(self, profile: str) -> bool:
        return self.profile == "core" or profile == "full"


def _catalog_bytes() -> bytes:
    return resources.files("conformance.catalog").joinpath("catalog.toml").read_bytes()


@cache
def load_catalog() -> dict[str, Requirement]:
    """All requirements by ID, in file order."""
    data = tomllib.loads(_catalog_bytes().decode("utf-8"))
    result: dict[str, Requirement] = {}
    for entry in data["requirement"]:
        req = Requirement(**entry)
        if req.id in result:
            raise ValueError(f"duplicate requirement id {req.id}")
        if req.level not in ("MUST", "SHOULD") or req.profile not in ("core", "full"):
            raise ValueError(f"{req.id}: bad level or profile")
        result[req.id] = req
    return result


def catalog_sha256() -> str:
    return hashlib.sha256(_catalog_bytes()).hexdigest()


def render_markdown(test_index: dict[str, list[str]] | None = None) -> str:
    """The catalog as a Markdown document (``conformance catalog``), optionally with the tests behind each."""
    lines = [
        "# Requirement catalog",
        "",
        "Generated from `conformance/catalog.toml`. MUST failures make a target NOT CONFORMANT;",
        "SHOULD failures are warnings. Positions are the suite's reading where the documents are",
        "ambiguous or silent.",
        "",
    ]
    catalog = load_catalog()
    groups = sorted({r.group for r in catalog.values()}, key=lambda g: (*GROUP_ORDER, g).index(g))
    for group in groups:
        lines += [f"## {group}", ""]
        for req in (r for r in catalog.values() if r.group == group):
            lines.append(f"### {req.id} ({req.level}, profile {req.profile})")
            lines += ["", req.summary, "", f"- Source: {req.spec}"]
            if req.position:
                lines.append(f"- Position: {req.position}")
            if test_index is not None:
                tests = test_index.get(req.id, [])
                lines.append(f"- Tests: {', '.join(f'`{t}`' for t in tests) or 'none'}")
            lines.append("")
    return "\n".join(lines)
