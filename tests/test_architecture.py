"""The package's shape: imports point one way (docs/ARCHITECTURE.md, "Layers"), no cycles, small files.

Read from the source with ``ast`` (nothing is imported), so a cycle hidden in a function-level
import counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"

# Bottom to top: a module may import its own layer and the layers below it, nothing above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("conformance", "conformance.spec"),  # the package's version and the documents' facts: import nothing
    ("conformance.model",),
    ("conformance.catalog",),
    ("conformance.config", "conformance.serving"),
    ("conformance.transport",),
    ("conformance.parse",),
    ("conformance.checks",),
    ("conformance.results",),
    ("conformance.report",),
    ("conformance.suite", "conformance.reference"),
    ("conformance.commands", "conformance.__main__"),
)
# The reference server stands apart from the suite: it shares only the documented facts, the
# credential model and the server thread, so a defect in the suite's code can never make the
# reference agree with it.
REFERENCE_MAY_IMPORT = (
    "conformance.spec",
    "conformance.model",
    "conformance.serving",
    "conformance.reference",
)
MAX_LINES = 400
# Modules that import by name at run time, and the package they may reach that way; a dynamic
# import anywhere else would hide an edge from the layer check.
DYNAMIC_IMPORTS = {"conformance.suite.index": "conformance.suite."}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The module an imported dotted name lives in (``a.b.C`` -> ``a.b``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str) -> set[str]:
    """Every package module ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {_resolve(n) for n in names if n == "conformance" or n.startswith("conformance.")}
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "conformance"):
            return index
    assert module == "conformance", f"{module} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md"
    return 0


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_the_walker_sees_the_package() -> None:
    """Guard against a walker that finds nothing and so can never fail."""
    assert len(MODULES) > 40
    assert "conformance.model.exchange" in GRAPH["conformance.transport.client"]
    assert any(GRAPH[m] for m in MODULES if m.startswith("conformance.commands"))


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_imports_follow_the_layer_order() -> None:
    upward = [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m in sorted(GRAPH)
        for d in sorted(GRAPH[m])
        if _layer(d) > _layer(m)
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_the_reference_shares_only_the_spec_and_the_model() -> None:
    leaks = [
        f"{m} imports {d}"
        for m in sorted(GRAPH)
        if m.startswith("conformance.reference")
        for d in sorted(GRAPH[m])
        if not any(d == p or d.startswith(p + ".") for p in REFERENCE_MAY_IMPORT)
    ]
    assert not leaks, "the reference imports the suite:\n" + "\n".join(leaks)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_read_in_one_sitting(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (at most {MAX_LINES}): split it"


def _dynamic_imports(module: str) -> list[tuple[int, str]]:
    """(line, the name's constant prefix) of every importlib.import_module / __import__ call."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        callee = ast.unparse(node.func)
        if callee.endswith("import_module") or callee == "__import__":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant):
                prefix = str(arg.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value)
            else:
                prefix = ""
            found.append((node.lineno, prefix))
    return found


def test_dynamic_imports_are_declared_and_stay_in_their_package() -> None:
    """import_module escapes the static walker above, so each use is declared with what it may reach."""
    undeclared = [
        f"{m}:{line} imports {prefix or 'a computed name'!r}"
        for m in sorted(MODULES)
        for line, prefix in _dynamic_imports(m)
        if not (m in DYNAMIC_IMPORTS and prefix.startswith(DYNAMIC_IMPORTS[m]))
    ]
    assert not undeclared, "dynamic imports not declared in DYNAMIC_IMPORTS:\n" + "\n".join(undeclared)
    assert _dynamic_imports("conformance.suite.index"), "the declared dynamic import is gone: drop it"


def test_the_bottom_layers_are_ordered() -> None:
    """spec imports nothing of the package, the model only spec, the catalog no config (ARCHITECTURE)."""
    assert GRAPH["conformance.spec"] == set()
    assert _layer("conformance.spec") < _layer("conformance.model") < _layer("conformance.catalog")
    assert _layer("conformance.catalog") < _layer("conformance.config") == _layer("conformance.serving")


def test_pytest_stays_in_the_suite_and_above() -> None:
    """pytest wiring belongs to the suite (and the commands that start it); the layers below it are
    plain code that replay, recheck, matrix and verify run without pytest."""
    below = [
        m
        for m in sorted(MODULES)
        if _layer(m) < _layer("conformance.suite")
        for node in ast.walk(ast.parse(MODULES[m].read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            (a.name if isinstance(node, ast.Import) else node.module or "").split(".")[0] == "pytest"
            for a in node.names
        )
    ]
    assert not below, f"modules below the suite that import pytest: {sorted(set(below))}"


def test_no_import_error_is_swallowed() -> None:
    """A broken module must fail loudly, not make a subcommand or a renderer silently vanish."""
    hiding = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                if "ImportError" in caught or "ModuleNotFoundError" in caught:
                    hiding.append(f"{module}:{node.lineno} except {caught}")
    assert not hiding, "swallowed import errors:\n" + "\n".join(hiding)


def test_architecture_md_names_every_module() -> None:
    """docs/ARCHITECTURE.md is the map a newcomer reads first: every module of the package is on it
    (the suite's thin test_*.py modules are named as a kind)."""
    doc = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    unnamed = [
        str(path.relative_to(PACKAGE.parent))
        for path in MODULES.values()
        if path.name not in ("__init__.py", "__main__.py")
        and not (path.parent.name == "suite" and path.name.startswith("test_"))
        and f"`{path.name}`" not in doc
    ]
    assert not unnamed, f"modules docs/ARCHITECTURE.md does not name: {unnamed}"
