"""The conformance index: suite test -> requirements -> registered checks -> spec references.

Like Kubernetes' ``conformance.yaml``: generated from the code (the tests' ``@requirement``
markers, the checks their bodies call, the catalog's citations) and checked in as
``conformance/catalog/index.json``; the project's tests fail when it is stale. The checks of a
test are read statically: the registered checks its body names, and those of the functions it
calls in its own module and in the suite's helper modules (an over-approximation by name, never
an omission).

``conformance catalog --write-index`` rewrites the checked-in file.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from typing import Any

import conformance.suite as suite_pkg
from conformance.catalog import load_catalog
from conformance.checks.registry import CHECKS

INDEX_PATH = Path(__file__).resolve().parent.parent / "catalog" / "index.json"
HELPER_MODULES = ("api", "lifecycle", "strategies")  # suite modules whose functions tests call


def _functions(tree: ast.AST) -> dict[str, list[ast.AST]]:
    """Every function and method defined anywhere in ``tree``, by name."""
    found: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.setdefault(node.name, []).append(node)
    return found


def _names(node: ast.AST) -> set[str]:
    """Bare and attribute names a piece of code refers to."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
    return names


def _helper_functions() -> dict[str, list[ast.AST]]:
    found: dict[str, list[ast.AST]] = {}
    for name in HELPER_MODULES:
        source = Path(suite_pkg.__path__[0], f"{name}.py")
        if source.exists():
            for fname, nodes in _functions(ast.parse(source.read_text(encoding="utf-8"))).items():
                found.setdefault(fname, []).extend(nodes)
    return found


def _checks_reached(
    start: ast.AST, local: dict[str, list[ast.AST]], helpers: dict[str, list[ast.AST]]
) -> set[str]:
    """Registered checks named by ``start`` or by any function it names, transitively."""
    seen: set[int] = set()
    todo = [start]
    reached: set[str] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        names = _names(node)
        reached |= {n for n in names & CHECKS.keys() if CHECKS[n].func is not None}  # not pseudo-checks
        for name in names:
            todo.extend(local.get(name, ()))
            todo.extend(helpers.get(name, ()))
    return reached


def description(test: Any) -> str:
    """The first paragraph of a suite test's docstring, on one line: what the test verifies."""
    doc = inspect.getdoc(test) or ""
    return " ".join(doc.split("\n\n")[0].split())


def since(test: Any) -> str:
    """The release a suite test's ``@requirement`` marker says it joined the suite in."""
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "requirement"]
    return str(marks[0].kwargs.get("since", "")) if marks else ""


def requirement_ids(test: Any) -> list[str]:
    """The requirement IDs a suite test's ``@requirement`` marker names (empty: none)."""
    return [
        rid for mark in getattr(test, "pytestmark", []) if mark.name == "requirement" for rid in mark.args
    ]


def suite_tests() -> list[tuple[str, str, Any]]:
    """(module file, test name, function) of every test function in the suite."""
    found = []
    for info in sorted(pkgutil.iter_modules(suite_pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("test_"):
            module = importlib.import_module(f"conformance.suite.{info.name}")
            for name, fn in vars(module).items():
                if name.startswith("test_") and inspect.isfunction(fn):
                    found.append((f"{info.name}.py", name, fn))
    return found


def build_index() -> list[dict[str, Any]]:
    """One entry per suite test, in module then source order."""
    catalog = load_catalog()
    helpers = _helper_functions()
    entries = []
    trees: dict[str, ast.AST] = {}
    for filename, name, fn in suite_tests():
        if filename not in trees:
            trees[filename] = ast.parse(inspect.getsource(inspect.getmodule(fn)))  # type: ignore[arg-type]
        local = _functions(trees[filename])
        node = local[name][0]
        ids = requirement_ids(fn)
        reached = _checks_reached(node, local, helpers)
        entries.append(
            {
                "test": f"{filename}::{name}",
                "description": description(fn),
                "file": f"conformance/suite/{filename}",
                "line": getattr(node, "lineno", 0),
                "since": since(fn),
                "requirements": [
                    {"id": rid, "level": catalog[rid].level, "spec": catalog[rid].spec}
                    for rid in ids
                    if rid in catalog
                ],
                "checks": [{"name": c, "title": CHECKS[c].title} for c in sorted(reached)],
            }
        )
    entries.sort(key=lambda e: (e["test"].split("::")[0], e["line"]))
    return entries


def render_index() -> str:
    return json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n"


def render_tests_markdown(index: list[dict[str, Any]]) -> str:
    """The suite's tests as a document section: what each verifies, where it is, since when."""
    lines = ["## Conformance tests", "", "Generated from `conformance/catalog/index.json`.", ""]
    for entry in index:
        ids = ", ".join(r["id"] for r in entry["requirements"])
        lines.append(
            f"- `{entry['test']}` ({ids}; since {entry['since']}; "
            f"[{entry['file']}:{entry['line']}](../{entry['file']}#L{entry['line']})): {entry['description']}"
        )
    return "\n".join(lines) + "\n"
