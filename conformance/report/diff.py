"""``conformance report diff OLD NEW``: which requirements changed verdict between two runs.

Built for staging gates: run the suite before and after a deploy and fail the pipeline when a MUST
that passed before now fails. A requirement the new run did not verify (skipped, deselected, cut
short by a signal, the budget or the deadline, blocked) is reported as unverified, never as a
regression: nothing was seen to break. Exit 1 when a MUST regressed, 2 when a file cannot be read,
else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.catalog import load_catalog
from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.model.finding import ABSENT
from conformance.model.text import printable
from conformance.report.markdown import cell, code, table
from conformance.report.rendering import verdict_label
from conformance.results.untrusted import UntrustedInputError, load_results_file

REGRESSED = ("fail", "error")
UNVERIFIED = ("blocked", "skip", "not-run", "not-judged", "untested")


@dataclass(frozen=True)
class Change:
    id: str
    level: str
    old: str | None  # None: the requirement is not in that run's catalog
    new: str | None

    @property
    def regression(self) -> bool:
        """A MUST that passed before and now fails or errors (not one that went unverified)."""
        return self.level == "MUST" and self.old == "pass" and self.new in REGRESSED

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.regression:
            return "REGRESSION"
        if self.new == "pass":
            if self.old in REGRESSED:
                return "fixed"
            # not-in-profile, skipped, untested -> pass: first verified now, nothing was broken before
            return "now in profile" if self.old == "not-in-profile" else "now verified"
        if self.new in UNVERIFIED:
            return "unverified"
        if self.old == "pass":
            return "worse"
        return "changed"


def diff_results(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Requirement verdict changes, in the new run's catalog order (removed ones last)."""
    before = {r["id"]: r for r in old.get("requirements") or ()}
    after = {r["id"]: r for r in new.get("requirements") or ()}
    catalog = load_catalog()

    def level(rid: str, req: Mapping[str, Any]) -> str:  # the suite's catalog decides, not the file
        return catalog[rid].level if rid in catalog else str(req.get("level", ""))

    changes = []
    for rid, req in after.items():
        prev = before.get(rid)
        old_verdict = prev["verdict"] if prev else None
        if old_verdict != req["verdict"]:
            changes.append(Change(rid, level(rid, req), old_verdict, req["verdict"]))
    changes += [
        Change(rid, level(rid, r), r["verdict"], None) for rid, r in before.items() if rid not in after
    ]
    return changes


def _label(verdict: str | None, level: str) -> str:
    return ABSENT if verdict is None else verdict_label(verdict, level)


def _describe(results: Mapping[str, Any]) -> str:
    run = results.get("run") or {}
    target = results.get("target") or {}
    summary = results.get("summary") or {}
    version = (results.get("suite") or {}).get("version", "?")
    return (
        f"{summary.get('verdict', '?')} | {target.get('base_url', '?')} | "
        f"profile {run.get('profile', '?')} | started {run.get('started_at', '?')} | suite {version}"
    )


def notes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What makes the two runs not like for like: target, catalog, profile, suite version."""
    out = []
    base = [str((r.get("target") or {}).get("base_url", "?")) for r in (old, new)]
    if base[0] != base[1]:
        out.append(f"the two runs targeted different base URLs: {base[0]} and {base[1]}")
    catalogs = [(r.get("integrity") or {}).get("catalog_sha256") for r in (old, new)]
    if catalogs[0] != catalogs[1]:
        out.append("the two runs used different requirement catalogs")
    profiles = [str((r.get("run") or {}).get("profile", "?")) for r in (old, new)]
    if profiles[0] != profiles[1]:
        out.append(f"the two runs used different profiles: {profiles[0]} and {profiles[1]}")
    return out


def _summary(changes: list[Change]) -> tuple[list[str], list[str]]:
    regressions = [c.id for c in changes if c.regression]
    unverified = [c.id for c in changes if c.kind == "unverified" and c.level == "MUST"]
    return regressions, unverified


def render(old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change]) -> list[str]:
    """Plain text for a terminal or a CI log."""
    lines = [f"old: {_describe(old)}", f"new: {_describe(new)}"]
    lines += [f"note: {n}" for n in notes(old, new)]
    if not changes:
        lines.append("no requirement changed verdict")
        return lines
    width = max(len(c.id) for c in changes)
    lines.append("")
    for c in changes:
        lines.append(
            f"{c.id:<{width}}  {c.level:<6}  {_label(c.old, c.level):>14} -> {_label(c.new, c.level):<14}  "
            f"{c.kind}"
        )
    regressions, unverified = _summary(changes)
    lines.append("")
    if unverified:
        lines.append(f"not verified by the new run (not regressions): {', '.join(unverified)}")
    lines.append(f"MUST regressions: {', '.join(regressions)}" if regressions else "no MUST regressed")
    return lines


def render_markdown(old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change]) -> list[str]:
    """GitHub/GitLab-flavoured Markdown for a pull/merge request comment."""
    regressions, unverified = _summary(changes)
    head = (
        f"**{len(regressions)} MUST regression{'s' if len(regressions) != 1 else ''}**: "
        + ", ".join(f"`{r}`" for r in regressions)
        if regressions
        else "**No MUST regressed**"
    )
    lines = ["### Conformance: verdict changes", "", head, ""]
    lines += [f"> **Note:** {n}" for n in notes(old, new)]
    if notes(old, new):
        lines.append("")
    runs = [
        [
            name,
            cell((r.get("summary") or {}).get("verdict", "?")),
            code((r.get("target") or {}).get("base_url", "?")),
            cell((r.get("run") or {}).get("profile", "?")),
            cell((r.get("run") or {}).get("started_at", "?")),
            cell((r.get("suite") or {}).get("version", "?")),
        ]
        for name, r in (("old", old), ("new", new))
    ]
    lines += table(("run", "verdict", "base URL", "profile", "started", "suite"), runs)
    lines.append("")
    if not changes:
        lines.append("No requirement changed verdict.")
        return lines
    rows = [
        [
            code(c.id),
            cell(c.level),
            cell(_label(c.old, c.level)),
            cell(_label(c.new, c.level)),
            f"**{c.kind}**" if c.regression else cell(c.kind),
        ]
        for c in changes
    ]
    lines += table(("requirement", "level", "old", "new", "change"), rows)
    if unverified:
        lines += [
            "",
            f"Not verified by the new run (not regressions): {', '.join(f'`{u}`' for u in unverified)}",
        ]
    return lines


def as_json(old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change]) -> dict[str, Any]:
    """The diff as data, for scripts."""
    regressions, unverified = _summary(changes)

    def run(r: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "verdict": (r.get("summary") or {}).get("verdict"),
            "base_url": (r.get("target") or {}).get("base_url"),
            "profile": (r.get("run") or {}).get("profile"),
            "started_at": (r.get("run") or {}).get("started_at"),
            "suite_version": (r.get("suite") or {}).get("version"),
            "catalog_sha256": (r.get("integrity") or {}).get("catalog_sha256"),
        }

    return {
        "old": run(old),
        "new": run(new),
        "notes": notes(old, new),
        "changes": [
            {
                "id": c.id,
                "level": c.level,
                "old": c.old,
                "new": c.new,
                "kind": c.kind,
                "regression": c.regression,
            }
            for c in changes
        ],
        "regressions": regressions,
        "unverified": unverified,
        "exit_code": EXIT_FAILED if regressions else EXIT_OK,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``diff`` sub-command to ``conformance report``."""
    sub = parser.add_subparsers(dest="report_command", required=True)
    d = sub.add_parser(
        "diff",
        help="requirements whose verdict changed between two results.json files "
        "(exit 1 when a MUST regressed)",
    )
    d.add_argument("old", help="results.json of the earlier run (e.g. before the deploy)")
    d.add_argument("new", help="results.json of the later run")
    d.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (terminal, CI log), markdown (a pull/merge request comment) or json",
    )


def main(args: argparse.Namespace) -> int:
    if getattr(args, "report_command", None) != "diff":
        return EXIT_USAGE
    try:  # size-capped, depth-capped, validated against results.schema.json
        old, new = load_results_file(args.old), load_results_file(args.new)
    except UntrustedInputError as exc:
        print(f"conformance report diff: {exc}", file=sys.stderr)
        return EXIT_USAGE
    changes = diff_results(old, new)
    fmt = getattr(args, "format", "text")
    if fmt == "json":
        print(json.dumps(as_json(old, new, changes), indent=2))
    else:
        for line in (render_markdown if fmt == "markdown" else render)(old, new, changes):
            print(printable(line, None))  # the files are anyone's: no control character reaches the terminal
    return EXIT_FAILED if any(c.regression for c in changes) else EXIT_OK
