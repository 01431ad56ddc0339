"""The whole suite (``pytest -q``) on every core, with pytest-xdist; a file or a test named runs serially.

The project's tests are mostly real runs: a ``conformance run`` subprocess against a server on a
thread of the test process. One run keeps about one core busy, so a serial session leaves the
other core of a 2-core CI machine idle for most of its minutes. When pytest is started without
paths (the README's command, ``testpaths``), without ``-n`` and with pytest-xdist installed, the
session is distributed over one worker per core (``-n logical``); ``-n 0`` keeps it serial,
``-n N`` chooses (for any selection).

A worker takes whole files (``--dist loadfile``), so a module's fixtures (a reference server, a
faulted run, the matrix's live targets) are still set up once; the files that use one of the
session fixtures of tests/conftest.py (the clean run, the certified run and its server) go to one
worker together, so those runs are not repeated either. The longest test starts first, then those
shared files (the largest units), so no worker is left with one of them at the end.
(pytest-xdist's own ``loadgroup`` marks do not take effect under pytest 9.2: it renames node ids
through an attribute pytest no longer reads.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

# Tests of minutes, started first (a node id that no longer exists is ignored).
LONGEST_FIRST = ("tests/test_selftest.py::test_ci_subset_detects_every_fault_and_passes_every_variant",)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Before xdist reads its options: the whole suite, with no ``-n`` given, runs on every core."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return  # a worker, or xdist not installed (`-p no:xdist`, or installed without [test])
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if whole_suite and config.option.numprocesses is None and (os.cpu_count() or 1) > 1:
        config.option.numprocesses = "logical"  # = auto without psutil; with it, not physical cores
    if config.option.numprocesses and config.option.dist == "no":  # no --dist given: whole files
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # collection order: the longest test first


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the files that share a session fixture as one unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    units = file_units(Path(str(config.rootpath)), session_fixtures())

    class SharedFixtureFiles(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return units.get(path, path)

    return SharedFixtureFiles(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first, then the shared-fixture files (the largest units of work), then the
    rest in their order; every worker collects the same order, and a worker takes units in it."""
    root = Path(str(config.rootpath))
    shared = file_units(root, session_fixtures())

    def rank(item: pytest.Item) -> int:
        if item.nodeid in LONGEST_FIRST:
            return 0
        return 1 if item.path.relative_to(root).as_posix() in shared else 2

    items.sort(key=rank)  # stable: the order within each rank is kept


def session_fixtures() -> list[str]:
    """The names of the session-scoped fixtures tests/conftest.py provides."""
    from tests import conftest

    return [
        name
        for name in conftest.__all__
        if getattr(getattr(conftest, name), "_fixture_function_marker", None) is not None
        and conftest.__dict__[name]._fixture_function_marker.scope == "session"
    ]


def file_units(root: Path, fixtures: Iterable[str]) -> dict[str, str]:
    """test file (relative to ``root``) -> the unit it runs in, for files naming a session fixture.

    A file with a function that takes one of ``fixtures`` as a parameter shares its unit with every
    other such file (connected through any fixture); other files are their own unit, absent here.
    """
    names = list(fixtures)
    if not names:
        return {}
    word = re.compile(r"(?<=[(,])\s*(" + "|".join(map(re.escape, names)) + r")(?=\s*[:,)=])")  # a parameter
    users = {
        path.relative_to(root).as_posix(): set(word.findall(path.read_text(encoding="utf-8")))
        for path in sorted((root / "tests").glob("test_*.py"))
    }
    parent = {name: name for name in names}

    def find(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for used in users.values():
        first, *rest = sorted(used) or [""]
        for name in rest:
            parent[find(name)] = find(first)
    return {path: "shared:" + find(min(used)) for path, used in users.items() if used}
