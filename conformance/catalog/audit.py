"""The audit of the general documents: each promise to every client, and what became of it.

``audit.toml`` lists, line by line, the promises index.md's general sections and oauth.md make to
every client of every method, each paraphrased with the requirements that verify it or the
position why it is not checked; this module loads it and renders the table that
``conformance catalog --with-tests`` puts into docs/requirements.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Promise:
    doc: str
    section: str
    promise: str
    requirements: tuple[str, ...] = ()
    position: str = ""


@cache
def load_audit() -> tuple[Promise, ...]:
    """Every audited promise, in document order; a row with neither requirements nor a position is refused."""
    raw = resources.files("conformance.catalog").joinpath("audit.toml").read_text("utf-8")
    rows = []
    for entry in tomllib.loads(raw)["promise"]:
        row = Promise(**{**entry, "requirements": tuple(entry.get("requirements", ()))})
        if not row.requirements and not row.position:
            raise ValueError(f"audit: {row.doc}, {row.section}: a promise needs requirements or a position")
        rows.append(row)
    return tuple(rows)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_audit() -> list[str]:
    """The audit as a Markdown section: promise -> requirement IDs and/or position."""
    lines = [
        "## Promises of the general documentation",
        "",
        "index.md (Requests, Authentication, Responses, Response formats, Permission levels, Caching) and",
        "oauth.md promise things to every client of every method. Each promise, paraphrased, and what the",
        "suite made of it: the requirements that verify it, or the position why it is not checked",
        "(`conformance/catalog/audit.toml`).",
        "",
        "| document | section | promise | requirements | position |",
        "|---|---|---|---|---|",
    ]
    for p in load_audit():
        ids = ", ".join(f"`{r}`" for r in p.requirements)
        cells = (p.doc, _cell(p.section), _cell(p.promise), ids or "-", _cell(p.position) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines
