"""constraints.txt pins every runtime and test dependency, and every install command uses it.

A pin file that misses a dependency (a new one in pyproject.toml, or one pulled in transitively)
gives a "reproducible" install that is not: the missing package floats. The closure is read from the
installed metadata, so a transitive dependency counts as much as a declared one.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"not name==version: {line!r}"
        found[canonicalize_name(match[1])] = match[2]
    return found


def closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, transitively, as installed here (markers of this
    Python; a dependency's extras only when asked for)."""
    seen: set[str] = set()
    todo: list[tuple[Requirement, tuple[str, ...]]] = [(Requirement(r), ()) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (*wanted, "")):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for sub in metadata.requires(req.name) or []:
            todo.append((Requirement(sub), tuple(req.extras)))
    return seen


def test_every_runtime_and_test_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    needed = closure(declared)
    pinned = pins()
    assert sorted(needed - set(pinned)) == []
    for requirement in map(Requirement, declared):  # the pins satisfy pyproject's own ranges
        assert requirement.specifier.contains(pinned[canonicalize_name(requirement.name)], prereleases=True)
    assert canonicalize_name(project["name"]) not in pinned  # the suite itself is installed from source


def test_every_install_command_uses_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_two = re.findall(r"```sh\n(.*?)\n```", readme, re.S)[:2]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    (ci_install,) = [line for line in ci.splitlines() if "pip install" in line]
    commands = [*first_two, ci_install]
    for command in commands:
        assert "pip install" in command and "-c constraints.txt" in command, command
    # .ci/run runs exactly README's test command
    assert ci_install == first_two[1]
