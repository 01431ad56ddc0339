"""The pytest plugin: options, fixtures, the ``requirement`` marker, and evidence collection.

Use it from plain pytest with ``pytest -p conformance.suite.plugin --pyargs conformance.suite
--target-config target.toml``; ``conformance run`` uses the same plugin in-process. Results flow
out through ``report.user_properties`` (so they survive pytest-xdist) into ``results.json``.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, Phase, settings

from conformance import __version__
from conformance.catalog import load_catalog
from conformance.checks import Finding, Observation, measure_skew, observe
from conformance.config import ConfigError, TargetConfig, check_requirement_ids, load_config
from conformance.model.exchange import ApiRequest, Exchange
from conformance.transport.client import BudgetExhausted, TargetClient, TransportError

PROFILES = ("core", "full")
# Transport refusals that end a test because the run's own limits ran out: the test is unverified.
CUT_SHORT_KINDS = ("budget", "deadline")
# "<...plugin.Api object at 0x7f...>" in Hypothesis' notes: an address says nothing to a reader.
_OBJECT_REPR = re.compile(r"<([\w.]+?)(?: object)? at 0x[0-9a-fA-F]+>")


# ------------------------------------------------------------------ Hypothesis settings profiles
def _register_settings() -> None:
    common: dict[str, Any] = dict(
        deadline=None,
        database=None,  # nothing the suite saw is ever written to an example database
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=False,
    )
    settings.register_profile("conformance-default", max_examples=8, **common)
    settings.register_profile("conformance-thorough", max_examples=300, **common)
    settings.register_profile("conformance-polite", max_examples=8, **common)


_register_settings()


class ConformanceFailure(AssertionError):
    """A test saw the target break a requirement; carries the findings as evidence."""

    def __init__(self, findings: Sequence[Finding], *, server_error: bool = False) -> None:
        self.findings = list(findings)
        self.server_error = server_error  # the target answered 5xx: the test stopped sending
        lines = [f"[{f.requirement}] {f.message}" for f in self.findings]
        super().__init__("\n".join(lines))


def requirement(*ids: str, since: str = "0.1") -> pytest.MarkDecorator:
    """Declare the requirement IDs a suite test verifies (Kubernetes' ConformanceIt, pytest style)."""
    return pytest.mark.requirement(*ids, since=since)


@dataclass
class RunState:
    """What the whole run shares: the config, the client, measured facts and the test records."""

    config: TargetConfig
    profile: str
    include_slow: bool
    seed: int
    settings_profile: str
    max_examples: int | None
    report_dir: Path
    embedded: bool
    client: TargetClient | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    skew_samples: list[Exchange] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    preflight_error: str | None = None
    partial: bool = False  # a -k/-m selection ran only part of the suite
    selection: str = ""  # that selection as given ("-k 'expr'"), for the reasons of unverified MUSTs
    accept_unverified: tuple[str, ...] = ()  # MUSTs the user accepts as unverified (config + CLI)
    interrupted: str | None = None  # "SIGINT" / "SIGTERM" when a signal cut the run short
    finishing: bool = False  # results are being written: a second signal must not abort that
    collected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> requirement IDs, to run
    deselected: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> IDs, left out by -k/-m
    receiver: dict[str, Any] | None = None  # the callback receiver's summary (listen, dropped requests)

    @property
    def skew(self) -> float:
        return measure_skew(self.skew_samples) or 0.0


class Api:
    """The per-test handle suite tests use: send, observe, record, and judge with checks."""

    def __init__(self, state: RunState, client: TargetClient) -> None:
        self.state = state
        self.client = client
        self.config = state.config
        self.exchanges: list[Exchange] = []
        self.warnings: list[Finding] = []
        self.transport_failure: TransportError | None = None
        self.requirements: list[str] = []  # what the test declares; the first is the one under test
        self.server_error: Finding | None = None  # the first 5xx answer this test got
        self.stopped: ConformanceFailure | None = None  # raised again by every later call

    def __repr__(self) -> str:  # shown in Hypothesis' falsifying examples
        return "api"

    # requests
    def request(self, *, photo_id: str | None = None, **params: str) -> ApiRequest:
        """A signed write-level GET for the configured photo with the given extra parameters."""
        pairs = [("photo_id", photo_id or self.config.photo_id), *params.items()]
        return ApiRequest(params=tuple(pairs))

    def call(self, req: ApiRequest, fmt: str | None = None) -> Observation:
        self._raise_if_stopped()
        ex = self._transport(self.client.send, req)
        return self._observed(ex, fmt or _expected_format(req))

    def call_many(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        self._raise_if_stopped()
        exchanges = self._transport(self.client.send_many, reqs)
        return [self._observed(ex, _expected_format(r)) for ex, r in zip(exchanges, reqs, strict=True)]

    def call_both_formats(self, req: ApiRequest) -> list[tuple[str, Observation]]:
        """The request as XML and as JSON (format=json), sent concurrently."""
        pair = self.call_many([req.with_params(format=None), req.with_params(format="json")])
        return list(zip(("xml", "json"), pair, strict=True))

    def replay(self, req: ApiRequest, times: int = 2) -> list[Observation]:
        self._raise_if_stopped()
        return [
            self._observed(ex, _expected_format(req))
            for ex in self._transport(self.client.replay, req, times)
        ]

    def _transport(self, send: Any, *args: Any) -> Any:
        """Send; after one transport failure in this test, fail at once without sending again.

        Hypothesis re-runs a failing test body many times while shrinking; against a target that
        times out or resets, every re-run would cost another request and another timeout.
        """
        if self.transport_failure is None:
            try:
                return send(*args)
            except TransportError as exc:
                self.transport_failure = exc
        first = self.transport_failure
        # One raise site for the first failure and its repeats: Hypothesis sees one consistent error.
        raise type(first)(str(first), first.kind, first.exchange)

    def _raise_if_stopped(self) -> None:
        """After a 5xx, every later call of this test fails the same way without sending.

        An intermittent server error does not recur when Hypothesis replays the example; without
        this the test would end as a "Flaky" error with no findings instead of a failure with the
        exchange that shows the 5xx.
        """
        if self.stopped is not None:
            self._raise_stopped()

    def _raise_stopped(self) -> NoReturn:
        """The one raise site of a 5xx failure: Hypothesis sees the same error on every replay."""
        assert self.stopped is not None
        raise ConformanceFailure(self.stopped.findings, server_error=True)

    def _observed(self, ex: Exchange, fmt: str | None) -> Observation:
        self.exchanges.append(ex)
        status = ex.response.status if ex.response is not None else None
        if status is not None and status >= 500 and self.server_error is None:
            under_test = self.requirements[0] if self.requirements else "HTTP-STATUS-200"
            self.server_error = Finding(
                under_test,
                "server_error",
                f"the target answered HTTP {status} (a server error) to this request, so {under_test} "
                "does not hold for it; every API answer is HTTP 200 (index.md, Responses)",
                "an HTTP 200 API answer",
                f"HTTP {status} {ex.response.reason if ex.response else ''}".strip(),
                ex,
            )
        if len(self.state.skew_samples) < 200:
            self.state.skew_samples.append(ex.without_body())
        obs = observe(ex, fmt)  # type: ignore[arg-type]
        if ex.response is not None and ex.response.truncated:
            ex.response.release()  # judged already: keep the evidence, not megabytes per exchange
        return obs

    # judgement
    def expect(self, *finding_lists: Iterable[Finding]) -> None:
        """Record warnings; raise ConformanceFailure when any finding is an error."""
        findings = [f for fl in finding_lists for f in fl]
        self.warnings.extend(f for f in findings if f.severity == "warning")
        errors = [f for f in findings if f.severity == "error"]
        if self.server_error is not None:  # a 5xx is a finding even where no check looked at it
            first = self.server_error
            if not any(f.requirement == first.requirement and f.exchange is first.exchange for f in errors):
                errors.insert(0, first)
            self.stopped = ConformanceFailure(errors, server_error=True)
            self._raise_stopped()
        if errors:
            raise ConformanceFailure(errors)

    def require_credentials(self, level: str) -> None:
        if level not in self.config.credentials:
            pytest.skip(f"no {level}-level credentials configured ([credentials.{level}])")


def _expected_format(req: ApiRequest) -> str:
    return "json" if req.param("format") == "json" else "xml"


# ------------------------------------------------------------------ options and configuration
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "TwentyThree replace-token conformance")
    group.addoption("--target-config", default=None, help="target TOML config; default: embedded reference")
    group.addoption("--conformance-profile", default="core", choices=PROFILES)
    group.addoption("--conformance-seed", type=int, default=None, help="seed for every Hypothesis draw")
    group.addoption("--conformance-max-examples", type=int, default=None)
    group.addoption("--conformance-settings", default="default", choices=("default", "thorough", "polite"))
    group.addoption("--conformance-report-dir", default="reports")
    group.addoption(
        "--include-slow",
        action="store_true",
        default=False,
        help="run tests that wait in real time (the 15-minute expiry test)",
    )
    group.addoption("--request-budget", type=int, default=None)
    group.addoption("--max-rps", type=float, default=None)
    group.addoption("--request-timeout", type=float, default=None)
    group.addoption(
        "--conformance-deadline",
        type=float,
        default=None,
        help="total run deadline in seconds ([limits] run_deadline_seconds)",
    )
    group.addoption(
        "--conformance-ca-bundle",
        default=None,
        help="PEM file of CAs to trust for an https target (ca_bundle in the config)",
    )
    group.addoption(
        "--accept-unverified",
        action="append",
        default=[],
        metavar="ID",
        help="a MUST requirement knowingly left unverified (repeatable; [verdict] accept_unverified)",
    )


class ConformancePlugin:
    """Registered once per run; holds the RunState."""

    def __init__(self, state: RunState | None = None, server: Any = None) -> None:
        self.state = state
        self._server = server
        self.results: dict[str, Any] | None = None
        self._standalone = state is None  # plain pytest: this plugin owns signals and the exit code
        self._signals: InterruptSignals | None = None

    # -- configuration ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.state is not None and self.state.client is None:
            self.state.client = TargetClient(self.state.config)
        config.addinivalue_line("markers", "requirement(*ids, since): requirement IDs this test verifies")
        if self.state is None:
            self.state = _state_from_options(config)
            self._signals = InterruptSignals(self.state).install()
            if self.state.embedded:
                self._server = _start_embedded(self.state)
        opt = config.option
        if getattr(opt, "hypothesis_seed", None) is None and hasattr(opt, "hypothesis_seed"):
            opt.hypothesis_seed = self.state.seed
        profile = f"conformance-{self.state.settings_profile}"
        if self.state.max_examples is not None:
            settings.register_profile(
                "conformance-run", settings.get_profile(profile), max_examples=self.state.max_examples
            )
            profile = "conformance-run"
        settings.load_profile(profile)
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
        xmlpath = getattr(config.option, "xmlpath", None)
        if xmlpath and self.results is not None and self.state is not None:  # junitxml has written it
            from conformance.report.junit import rewrite_junit

            rewrite_junit(Path(xmlpath), self.results, str(self.state.report_dir / "report.html"))
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
            ids = requirement_ids(item)
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
        items.sort(key=lambda it: all(catalog[i].profile == "full" for i in requirement_ids(it)))

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Tests left out by -k/-m: their requirements are not verified by this run."""
        assert self.state is not None
        for item in items:
            self.state.deselected[item.nodeid] = requirement_ids(item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The tests this run will run; any without a record at the end were cut off."""
        assert self.state is not None
        self.state.collected = {item.nodeid: requirement_ids(item) for item in session.items}

    # -- evidence --------------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        ids = requirement_ids(item)
        if report.when == "setup" and report.passed:
            return
        if report.when == "teardown" and report.passed:
            return
        assert self.state is not None
        record = _test_record(item, report, call, ids, self.state)
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

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file: the verdict goes into it
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        assert self.state is not None
        if hasattr(session.config, "workerinput"):
            return  # an xdist worker: the controller writes the results
        from _pytest.junitxml import xml_key

        from conformance.results import build_results, junit_properties, write_outputs

        state = self.state
        state.finishing = True
        if exitstatus == pytest.ExitCode.INTERRUPTED and state.interrupted is None:
            state.interrupted = "SIGINT"  # a KeyboardInterrupt that did not come through our handler
        self.results = build_results(state)
        write_outputs(self.results, state)
        xml = session.config.stash.get(xml_key, None)
        if xml is not None:
            for name, value in junit_properties(self.results):
                xml.add_global_property(name, value)
        code = int(self.results["summary"]["exit_code"])
        if self._standalone and code in (4, 130):  # plain pytest: INCOMPLETE / INTERRUPTED as in `run`
            session.exitstatus = code


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(i for i in mark.args if i not in ids)
    return ids


def _leaves(exc: BaseException | None) -> list[BaseException]:
    """The exceptions inside an exception group (Hypothesis' FlakyFailure is one), or ``exc`` itself."""
    if exc is None:
        return []
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def cut_short_reason(exc: TransportError, state: RunState | None) -> str:
    """Which of the run's own limits stopped a test, named with the option that raises it."""
    limits = state.config.limits if state is not None else None
    if exc.kind == "budget" or isinstance(exc, BudgetExhausted):
        size = f" of {limits.request_budget} requests" if limits else ""
        return f"request budget{size} exhausted (--request-budget / [limits] request_budget)"
    size = f" of {limits.run_deadline_seconds:g}s" if limits else ""
    return f"run deadline{size} passed (--deadline / [limits] run_deadline_seconds)"


def _test_record(
    item: pytest.Item,
    report: pytest.TestReport,
    call: pytest.CallInfo[None],
    ids: list[str],
    state: RunState | None = None,
) -> dict[str, Any]:
    api: Api | None = getattr(item, "conformance_api", None)
    findings: list[Finding] = []
    outcome = report.outcome
    message = ""
    kind = "pass"
    exc = call.excinfo.value if call.excinfo is not None else None
    leaves = _leaves(exc)
    failures = [e for e in leaves if isinstance(e, ConformanceFailure)]
    transport = next((e for e in leaves if isinstance(e, TransportError)), None)
    notes = _hypothesis_notes(exc)
    if report.skipped:
        kind = "skip"
        message = _skip_reason(report)
    elif report.failed:
        if transport is not None and transport.kind in CUT_SHORT_KINDS and not failures:
            kind = "not-run"
            message = f"not verified: {cut_short_reason(transport, state)}"
        elif failures:
            kind = "fail"
            seen: set[tuple[str, str, int | None]] = set()
            for f in (f for e in failures for f in e.findings):  # a group may repeat one finding
                key = (f.requirement, f.message, f.exchange.id if f.exchange else None)
                if key not in seen:
                    seen.add(key)
                    findings.append(f)
            if any(e.server_error for e in failures):
                notes = [
                    "The target answered with a server error (HTTP 5xx); the test stopped sending "
                    "there, so no shrunk example is shown: the exchange in the evidence is the request "
                    "that got the 5xx."
                ]
            elif exc is not None and exc not in failures:  # e.g. Hypothesis' FlakyFailure
                notes.insert(
                    0,
                    "Intermittent: the failure did not recur when Hypothesis replayed the example; the "
                    "findings are from the answer that broke the requirement.",
                )
            message = "\n".join(dict.fromkeys(str(e) for e in failures))
        elif transport is not None:
            kind = "error"
            message = f"transport: {transport}"
            if transport.exchange is not None:
                findings = [
                    Finding(
                        ids[0] if ids else "",
                        "transport",
                        str(transport),
                        "an HTTP response",
                        transport.kind,
                        transport.exchange,
                    )
                ]
        elif any(isinstance(e, AssertionError) for e in leaves):
            kind = "fail"
        else:
            kind = "error"
        if not message:
            message = _failure_text(report, exc)
    record = {
        "nodeid": item.nodeid,
        "name": item.name,
        "when": report.when,
        "requirements": ids,
        "doc": (getattr(getattr(item, "function", None), "__doc__", None) or "").strip(),
        "outcome": outcome,
        "verdict": kind,
        "message": _scrub(item, message),
        "duration": round(report.duration, 3),
        "requests": len(api.exchanges) if api else 0,
        "findings": [f.to_dict() for f in findings],
        "warnings": [f.to_dict() for f in (api.warnings if api else [])][:20],
        "hypothesis": [_scrub(item, n) for n in notes][:10],
    }
    if kind == "not-run" and transport is not None:
        record["cause"] = transport.kind  # "budget" or "deadline": which limit left it unverified
    if kind == "pass" and api is not None:  # replayable by `conformance certificate verify --recheck`
        from conformance.commands.recheck import record_samples

        samples = record_samples(api.exchanges, api.config.photo_id, ids)
        if samples:
            record["samples"] = samples
    return record


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
    handle = Api(run_state, target_client)
    catalog = load_catalog()
    handle.requirements = [
        rid
        for rid in requirement_ids(request.node)
        if rid in catalog and catalog[rid].in_profile(run_state.profile)
    ]
    request.node.conformance_api = handle
    if run_state.preflight_error:
        raise TransportError(f"target unreachable: {run_state.preflight_error}", "unreachable")
    if target_client.deadline_passed():  # not even a Hypothesis run: the run must end now
        raise TransportError(
            f"run deadline of {target_client.limits.run_deadline_seconds:g}s passed; test not run", "deadline"
        )
    yield handle
    if handle.server_error is not None and handle.stopped is None:  # a 5xx that no check judged
        raise ConformanceFailure([handle.server_error], server_error=True)


def find_plugin(config: pytest.Config) -> ConformancePlugin | None:
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, ConformancePlugin)), None)


def _scrub(item: pytest.Item, text: str) -> str:
    plugin = find_plugin(item.config)
    client = getattr(getattr(plugin, "state", None), "client", None)
    return client.redactor.scrub(text) if client else text


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")


def _failure_text(report: pytest.TestReport, exc: BaseException | None) -> str:
    if exc is not None:
        text = f"{type(exc).__name__}: {exc}"
        notes = getattr(exc, "__notes__", None)
        if notes:
            text += "\n" + "\n".join(str(n) for n in notes)
        return _OBJECT_REPR.sub(r"<\1>", text)[:4000]
    return _OBJECT_REPR.sub(r"<\1>", str(report.longrepr))[:4000]


def _hypothesis_notes(exc: BaseException | None) -> list[str]:
    notes = getattr(exc, "__notes__", None) or []
    return [_OBJECT_REPR.sub(r"<\1>", n) for n in notes if isinstance(n, str)][:10]


class InterruptSignals:
    """SIGINT and SIGTERM (a CI cancel) stop the run as Ctrl-C does, so the reports are still written.

    The first signal raises KeyboardInterrupt in the main thread (pytest then ends the session and
    calls ``pytest_sessionfinish``) and records which signal it was. A later one while the results
    are being written is ignored; before that it interrupts again.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, state: RunState) -> None:
        self.state = state
        self._previous: dict[int, Any] = {}

    def install(self) -> InterruptSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.state.interrupted is None:
            self.state.interrupted = signal.Signals(signum).name
        if self.state.finishing:
            return
        client = self.state.client
        if client is not None and client.in_flight() and not client.interrupt_pending:
            client.interrupt_pending = True  # the first signal lets the request in flight finish
            return
        raise KeyboardInterrupt(self.state.interrupted)  # no request in flight, or a second signal


def _state_from_options(config: pytest.Config) -> RunState:
    opt = config.option
    path = opt.target_config or os.environ.get("CONFORMANCE_TARGET_CONFIG")
    try:
        target = load_config(path) if path else None
    except ConfigError as exc:
        raise pytest.UsageError(f"config error: {exc}") from exc
    seed = (
        opt.conformance_seed if opt.conformance_seed is not None else random.SystemRandom().randrange(2**31)
    )
    try:
        accepted = check_requirement_ids(opt.accept_unverified or [], "--accept-unverified")
    except ConfigError as exc:
        raise pytest.UsageError(f"config error: {exc}") from exc
    state = RunState(
        config=target,  # type: ignore[arg-type]  # filled by _start_embedded when None
        profile=opt.conformance_profile,
        include_slow=opt.include_slow,
        seed=seed,
        settings_profile=opt.conformance_settings,
        max_examples=opt.conformance_max_examples,
        report_dir=Path(opt.conformance_report_dir),
        embedded=target is None,
        accept_unverified=tuple(
            dict.fromkeys((*(target.accept_unverified if target is not None else ()), *accepted))
        ),
    )
    if target is not None and state.profile == "full" and not target.destructive:
        raise pytest.UsageError(
            "--conformance-profile full replaces the file of photo_id on the target; it needs "
            f"'destructive = true' in {target.source}"
        )
    if target is not None:
        try:
            state.config = apply_limit_overrides(
                target,
                opt.request_budget,
                opt.max_rps,
                opt.request_timeout,
                deadline=opt.conformance_deadline,
                ca_bundle=opt.conformance_ca_bundle,
            )
        except ConfigError as exc:
            raise pytest.UsageError(f"config error: {exc}") from exc
    return state


def apply_limit_overrides(
    cfg: TargetConfig,
    budget: int | None,
    rps: float | None,
    timeout: float | None,
    *,
    deadline: float | None = None,
    ca_bundle: str | None = None,
) -> TargetConfig:
    """The config with command-line limits (and a CA bundle) applied; ConfigError names the option."""
    from dataclasses import replace

    from conformance.config import check_ca_bundle, check_limit

    for key, name, value in (
        ("request_budget", "--request-budget", budget),
        ("requests_per_second", "--max-rps", rps),
        ("timeout_seconds", "--timeout", timeout),
        ("run_deadline_seconds", "--deadline", deadline),
    ):
        if value is not None:
            check_limit(key, value, name)
    if ca_bundle is not None:
        cfg = replace(cfg, ca_bundle=check_ca_bundle(ca_bundle, "--ca-bundle"))
    limits = cfg.limits
    if deadline is not None:
        limits = replace(limits, run_deadline_seconds=deadline)
    if budget is not None:
        limits = replace(limits, request_budget=budget)
    if rps is not None:
        limits = replace(limits, requests_per_second=rps)
    if timeout is not None:
        limits = replace(limits, timeout_seconds=timeout)
    return replace(cfg, limits=limits)


def _start_embedded(state: RunState) -> Any:
    from conformance.config import parse_config
    from conformance.reference.server import ReferenceServer, ReferenceSettings

    server = ReferenceServer(ReferenceSettings(clock_control=True)).start()
    opt_cfg = parse_config(server.target_config(), source="<embedded reference>")
    state.config = opt_cfg
    print(f"conformance: embedded reference server at {server.base_url}", file=sys.stderr)
    return server


def pytest_configure(config: pytest.Config) -> None:
    """Entry for ``-p conformance.suite.plugin``: register one ConformancePlugin unless the CLI did."""
    if find_plugin(config) is None:
        config.pluginmanager.register(ConformancePlugin(), "conformance-plugin")
