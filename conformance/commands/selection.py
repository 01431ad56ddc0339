"""Which suite tests a run runs: ``-k`` and ``--requirement``, checked before any request.

Both are checked by collecting the suite in-process exactly as the run collects it, so an
expression means what pytest will make of it. The suite modules such a check imports are
forgotten afterwards (:func:`forget_suite_modules`): their ``@settings`` bind the Hypothesis
profile current at import, and the run loads its own profile before it imports them afresh.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from conformance.catalog import load_catalog
from conformance.commands.common import UsageError
from conformance.config import did_you_mean
from conformance.suite.index import requirement_ids, suite_tests
from conformance.suite.options import SUITE_DIR
from conformance.suite.records import item_requirement_ids
from conformance.suite.state import RunState


def suite_pytest_args() -> list[str]:
    """How pytest is pointed at the shipped suite, for the run and for validating a selection alike."""
    return [
        str(SUITE_DIR),
        *("-c", str(SUITE_DIR / "suite.ini"), "--rootdir", str(SUITE_DIR), "-p", "no:cacheprovider"),
    ]


@contextlib.contextmanager
def hypothesis_home() -> Iterator[None]:
    """Hypothesis keeps caches under .hypothesis/ in the cwd; a run leaves nothing behind there.

    Its caches go to the user's cache directory instead (:func:`hypothesis_cache_dir`): building
    its Unicode tables afresh costs every run about two seconds of CPU. They hold only what
    Hypothesis derives from Unicode and from the suite's own source (the run's settings write no
    example database), never anything of a target. Where that directory cannot be made, a
    temporary one serves the run and is removed after it.
    """
    cache = hypothesis_cache_dir()
    with contextlib.ExitStack() as stack:
        home = cache or stack.enter_context(tempfile.TemporaryDirectory(prefix="conformance-hypothesis-"))
        set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)


def hypothesis_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME`` (else ~/.cache)/twentythree-conformance/hypothesis-VERSION, private to
    the user; None when it cannot be created or written."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "twentythree-conformance" / f"hypothesis-{hypothesis.__version__}"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


@contextlib.contextmanager
def forget_suite_modules() -> Iterator[None]:
    """Suite modules imported inside the block are dropped again, so the run imports them afresh."""
    imported_before = set(sys.modules)
    try:
        yield
    finally:
        for name in set(sys.modules) - imported_before:
            if name.startswith("conformance.suite."):
                del sys.modules[name]


class _SelectionCounter:
    """Counts the suite tests a -k expression selects, and how many are in the run's profile."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.selected = 0
        self.in_profile = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        catalog = load_catalog()
        self.selected = len(session.items)
        for item in session.items:
            ids = item_requirement_ids(item)
            if any(i in catalog and catalog[i].in_profile(self.profile) for i in ids):
                self.in_profile += 1


def check_selection(keyword: str, profile: str) -> None:
    """UsageError unless ``-k keyword`` selects a suite test of the profile; sends no request.

    Collected as the run collects it (``--collect-only``), parametrised ids included.
    """
    counter = _SelectionCounter(profile)
    args = [*suite_pytest_args(), "--collect-only", "-q", "-k", keyword]
    args += ["-W", "ignore::pytest.PytestUnknownMarkWarning"]
    out, errors = io.StringIO(), io.StringIO()
    with (
        hypothesis_home(),
        forget_suite_modules(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(errors),
    ):
        code = pytest.main(args, plugins=[counter])
    if code == pytest.ExitCode.USAGE_ERROR:
        reason = next((ln for ln in (errors.getvalue() + out.getvalue()).splitlines() if "ERROR" in ln), "")
        raise UsageError(
            f"-k {keyword!r} is not a valid selection: {reason.removeprefix('ERROR: ')}".rstrip(": ")
        )
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return  # collection itself failed: the run reports it the usual way
    if counter.selected == 0:
        raise UsageError(f"no suite test matches -k {keyword!r}; nothing was certified")
    if counter.in_profile == 0:
        raise UsageError(
            f"-k {keyword!r} selects only tests outside profile {profile} (add --profile full); "
            "nothing would be certified"
        )


def check_requirements(selection: list[str], profile: str) -> list[str]:
    """``--requirement``: the catalog IDs selected (an exact ID, or a group prefix such as ``AUTH-``).

    UsageError, before any request, for a selection that names nothing or nothing the profile's
    suite tests verify.
    """
    if not selection:
        return []
    catalog = load_catalog()
    chosen: list[str] = []
    for given in selection:
        token = given.strip()
        prefix = token.upper().rstrip("-") + "-"
        ids = (
            [token]
            if token in catalog
            else [rid for rid, req in catalog.items() if rid.startswith(prefix) or req.group + "-" == prefix]
        )
        if not token or not ids:
            groups = sorted({r.group + "-" for r in catalog.values()})
            raise UsageError(
                f"--requirement {given!r}: no requirement ID or group prefix ({', '.join(groups)})"
                f"{did_you_mean(token, list(catalog))}"
            )
        chosen += [rid for rid in ids if rid not in chosen]
    with forget_suite_modules():
        tested = set(collect_test_index())
    runnable = [rid for rid in chosen if rid in tested and catalog[rid].in_profile(profile)]
    if not runnable:
        where = " (add --profile full)" if any(rid in tested for rid in chosen) else ""
        raise UsageError(
            f"--requirement {' '.join(selection)}: no suite test of profile {profile} verifies it{where}; "
            "nothing would be certified"
        )
    return runnable


class RequirementSelection:
    """Deselects the suite tests that verify none of the selected requirements (``--requirement``)."""

    def __init__(self, state: RunState, ids: list[str], given: list[str]) -> None:
        self.state = state
        self.ids = set(ids)
        self.given = given

    def pytest_configure(self, config: pytest.Config) -> None:  # after ConformancePlugin's (tryfirst)
        self.state.partial = True
        flags = " ".join(f"--requirement {g}" for g in self.given)
        self.state.selection = f"{self.state.selection} {flags}".strip()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            (keep if self.ids.intersection(item_requirement_ids(item)) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def collect_test_index() -> dict[str, list[str]]:
    """Requirement ID -> suite tests that declare it, read from the test modules' markers."""
    index: dict[str, list[str]] = {}
    for filename, name, test in suite_tests():
        for rid in requirement_ids(test):
            index.setdefault(rid, []).append(f"{filename}::{name}")
    return index


def unknown_requirement_ids() -> list[str]:
    catalog = load_catalog()
    return sorted({rid for rid in collect_test_index() if rid not in catalog})
