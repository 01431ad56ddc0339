"""The pytest plugin: hooks and fixtures only; the rest of a run lives in the modules beside it.

Use it from plain pytest with ``pytest -p conformance.suite.plugin --pyargs conformance.suite
--target-config target.toml``; ``conformance run`` uses the same plugin in-process. Options come
from :mod:`.options`, test records from :mod:`.records`, results.json and report.html from
:mod:`.outputs`; results flow out through the run state into ``results.json``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import xml_key

from conformance import __version__
from conformance.catalog import load_catalog
from conformance.config import ConfigError, load_config
from conformance.model.exit_codes import EXIT_INCOMPLETE, EXIT_INTERRUPTED
from conformance.reference.server import ReferenceServer
from conformance.report.junit import junit_properties, rewrite_junit
from conformance.results.files import ReportWriteError
from conformance.suite.api import Api, ConformanceFailure
from conformance.suite.budget import load_profile
from conformance.suite.har import HarCapture
from conformance.suite.options import (
    add_run_options,
    apply_limit_overrides,
    destructive_refusal,
    new_state,
    option_values,
    start_embedded,
)
from conformance.suite.outputs import write_outputs
from conformance.suite.planning import plan
from conformance.suite.prefetch import Prefetcher
from conformance.suite.records import bind_to_item, build_record, changes_the_target, item_requirement_ids
from conformance.suite.signals import InterruptSignals
from conformance.suite.state import RunState
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError

CONFIG_ENV = "CONFORMANCE_TARGET_CONFIG"  # the target config when --target-config is not given


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "TwentyThree replace-token conformance")
    add_run_options(group.addoption, "pytest")


class ConformancePlugin:
    """Registered once per run; holds the RunState."""

    def __init__(self, state: RunState | None = None, server: ReferenceServer | None = None) -> None:
        self.state = state
        self._server = server
        self.results: dict[str, Any] | None = None
        self._standalone = state is None  # plain pytest: this plugin owns signals and the exit code
        self._signals: InterruptSignals | None = None
        self.prefetcher: Prefetcher | None = None  # sends the tests' first requests ahead of them

    # -- configuration ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.state is not None and self.state.client is None:
            self.state.client = TargetClient(self.state.config)
        config.addinivalue_line("markers", "requirement(*ids, since): requirement IDs this test verifies")
        if self.state is None:
            self.state, self._server = _state_from_options(config)
            self._signals = InterruptSignals(self.state).install()
        opt = config.option
        if getattr(opt, "hypothesis_seed", None) is None and hasattr(opt, "hypothesis_seed"):
            opt.hypothesis_seed = self.state.seed
        load_profile(self.state.settings_profile, self.state.max_examples)
        keyword, markexpr = getattr(opt, "keyword", ""), getattr(opt, "markexpr", "")
        self.state.partial = bool(keyword or markexpr)
        self.state.selection = " ".join(
            f"{flag} {expr!r}" for flag, expr in (("-k", keyword), ("-m", markexpr)) if expr
        )

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        assert self.state is not None
        s = self.state
        return [
            f"conformance {__version__}: target {s.config.base_url} ({s.config.source}), "
            f"profile {s.profile}, seed {s.seed}, settings {s.settings_profile}"
        ]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.state and self.state.client:
            self.state.client.close()
        if self._server is not None:
            self._server.stop()  # also deletes its temp database, which holds live secrets
            self._server = None
        if self._signals is not None:
            self._signals.restore()
            self._signals = None

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        catalog = load_catalog()
        assert self.state is not None
        for item in items:
            ids = item_requirement_ids(item)
            if not ids:
                raise pytest.UsageError(f"{item.nodeid}: suite test without @requirement(...)")
            unknown = [i for i in ids if i not in catalog]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id(s) {', '.join(unknown)}")
            if not any(catalog[i].in_profile(self.state.profile) for i in ids):
                item.add_marker(
                    pytest.mark.skip(reason=f"not in profile '{self.state.profile}' (needs --profile full)")
                )
            # JUnit XML writes the teardown report's properties, which pytest copies from the item.
            item.user_properties.append(("requirements", ",".join(ids)))
        # Tests that change the target (redeem, clock moves) run after every read-only core test.
        items.sort(key=changes_the_target)

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Tests left out by -k/-m: their requirements are not verified by this run."""
        assert self.state is not None
        for item in items:
            self.state.deselected[item.nodeid] = item_requirement_ids(item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The tests this run will run; any without a record at the end were cut off."""
        assert self.state is not None
        self.state.collected = {item.nodeid: item_requirement_ids(item) for item in session.items}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Around the tests: their planned first requests are sent ahead of them (:mod:`.prefetch`)."""
        self.prefetcher = self._start_prefetch(session)
        try:
            return (yield)
        finally:
            if self.prefetcher is not None:
                self.prefetcher.close()
                assert self.state is not None
                self.state.sent_ahead = self.prefetcher.stats.facts()

    def _start_prefetch(self, session: pytest.Session) -> Prefetcher | None:
        state = self.state
        if state is None or state.client is None or state.send_ahead <= 0 or state.preflight_error:
            return None
        if session.config.option.collectonly or hasattr(session.config, "workerinput"):
            return None
        capture = next(
            (p for p in session.config.pluginmanager.get_plugins() if isinstance(p, HarCapture)), None
        )
        prefetcher = Prefetcher(state.client, state.send_ahead, capture.sending_for if capture else None)
        for item in session.items:
            prefetcher.add(item.nodeid, plan(item, state))
        return prefetcher

    # -- evidence --------------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if report.when in ("setup", "teardown") and report.passed:
            return
        assert self.state is not None
        record = build_record(item, report, call, self.state)
        self.state.records.append(record)
        if record["verdict"] == "not-run" and report.failed:
            # The run's own request budget or deadline ran out: not a failure of the target. JUnit
            # and pytest show the test as skipped, with the limit that stopped it.
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {record['message']}")
            return
        if report.failed and self.state.client is not None:  # console and junit.xml never see a secret
            text = str(report.longrepr)
            clean = self.state.client.redactor.scrub(text)
            if clean != text:
                report.longrepr = clean

    @pytest.hookimpl(wrapper=True)  # around junitxml's: the verdict goes into its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        assert self.state is not None
        if hasattr(session.config, "workerinput"):
            return (yield)  # an xdist worker: the controller writes the results
        state = self.state
        state.finishing = True
        if exitstatus == pytest.ExitCode.INTERRUPTED and state.interrupted is None:
            state.interrupted = "SIGINT"  # a KeyboardInterrupt that did not come through our handler
        self.results = write_outputs(state)
        xml = session.config.stash.get(xml_key, None)
        if xml is not None:
            for name, value in junit_properties(self.results):
                xml.add_global_property(name, value)
        code = int(self.results["summary"]["exit_code"])
        if self._standalone and code in (EXIT_INCOMPLETE, EXIT_INTERRUPTED):  # exits as `run` does
            session.exitstatus = code
        if xml is None:
            return (yield)
        # junitxml writes a staging file beside junit.xml; the rewritten file replaces junit.xml
        # atomically, so a full disk never leaves a truncated junit.xml where a complete one stood.
        final = Path(xml.logfile)
        staged = final.with_name(f".{final.name}.{os.getpid()}.partial")
        xml.logfile = str(staged)
        try:
            yield
        except OSError as exc:  # junitxml could not write its file: the verdict stands, the run says so
            state.write_errors.append(ReportWriteError(final, exc))
        else:
            try:
                rewrite_junit(staged, self.results, str(state.report_dir / "report.html"), dest=final)
            except OSError as exc:
                state.write_errors.append(
                    exc if isinstance(exc, ReportWriteError) else ReportWriteError(final, exc)
                )
        finally:
            xml.logfile = str(final)
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def run_state(request: pytest.FixtureRequest) -> RunState:
    plugin = find_plugin(request.config)
    assert plugin is not None and plugin.state is not None
    return plugin.state


@pytest.fixture(scope="session")
def target_client(run_state: RunState) -> TargetClient:
    if run_state.client is None:
        run_state.client = TargetClient(run_state.config)
    return run_state.client


@pytest.fixture
def api(run_state: RunState, target_client: TargetClient, request: pytest.FixtureRequest) -> Iterator[Api]:
    """The per-test handle; errors the test at once when the preflight found the target unreachable."""
    plugin = find_plugin(request.config)
    prefetcher = plugin.prefetcher if plugin is not None else None
    nodeid = request.node.nodeid
    ahead = functools.partial(prefetcher.take, nodeid) if prefetcher else None
    handle = bind_to_item(Api(run_state, target_client, ahead), request.node)
    request.node.conformance_api = handle
    if run_state.preflight_error:
        raise TransportError(f"target unreachable: {run_state.preflight_error}", "unreachable")
    if target_client.deadline_passed():  # not even a Hypothesis run: the run must end now
        raise TransportError(
            f"run deadline of {target_client.limits.run_deadline_seconds:g}s passed; test not run", "deadline"
        )
    try:
        yield handle
    finally:
        if prefetcher is not None:
            prefetcher.finish(nodeid)
    if handle.server_error is not None and handle.stopped is None:  # a 5xx that no check judged
        raise ConformanceFailure([handle.server_error], server_error=True)


def find_plugin(config: pytest.Config) -> ConformancePlugin | None:
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, ConformancePlugin)), None)


def _state_from_options(config: pytest.Config) -> tuple[RunState, ReferenceServer | None]:
    """The run state plain pytest's options describe, and the embedded server it started (if any)."""
    values = option_values(config.option, "pytest")
    path = values["config"] or os.environ.get(CONFIG_ENV)
    server = None
    try:
        target = load_config(path) if path else None
        refusal = destructive_refusal(values["profile"], target, "--conformance-profile")
        if refusal:
            raise pytest.UsageError(refusal)
        if target is not None:
            target = apply_limit_overrides(target, values)
        else:
            server, target = start_embedded()
            print(f"conformance: embedded reference server at {server.base_url}", file=sys.stderr)
        return new_state(target, values, embedded=server is not None), server
    except ConfigError as exc:
        if server is not None:
            server.stop()
        raise pytest.UsageError(f"config error: {exc}") from exc


def pytest_configure(config: pytest.Config) -> None:
    """Entry for ``-p conformance.suite.plugin``: register one ConformancePlugin unless the CLI did."""
    if find_plugin(config) is None:
        config.pluginmanager.register(ConformancePlugin(), "conformance-plugin")
