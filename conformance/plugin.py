"""The pytest plugin: options, fixtures, the ``requirement`` marker, and evidence collection.

Use it from plain pytest with ``pytest -p conformance.plugin --pyargs conformance.suite
--target-config target.toml``; ``conformance run`` uses the same plugin in-process. Results flow
out through ``report.user_properties`` (so they survive pytest-xdist) into ``results.json``.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from conformance import __version__
from conformance.catalog import load_catalog
from conformance.checks import Finding, Observation, measure_skew, observe
from conformance.client import ApiRequest, BudgetExhausted, Exchange, TargetClient, TransportError
from conformance.config import ConfigError, TargetConfig, load_config

PROFILES = ("core", "full")


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

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
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

    # requests
    def request(self, *, photo_id: str | None = None, **params: str) -> ApiRequest:
        """A signed write-level GET for the configured photo with the given extra parameters."""
        pairs = [("photo_id", photo_id or self.config.photo_id), *params.items()]
        return ApiRequest(params=tuple(pairs))

    def call(self, req: ApiRequest, fmt: str | None = None) -> Observation:
        ex = self._transport(self.client.send, req)
        return self._observed(ex, fmt or _expected_format(req))

    def call_many(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        exchanges = self._transport(self.client.send_many, reqs)
        return [self._observed(ex, _expected_format(r)) for ex, r in zip(exchanges, reqs, strict=True)]

    def call_both_formats(self, req: ApiRequest) -> list[tuple[str, Observation]]:
        """The request as XML and as JSON (format=json), sent concurrently."""
        pair = self.call_many([req.with_params(format=None), req.with_params(format="json")])
        return list(zip(("xml", "json"), pair, strict=True))

    def replay(self, req: ApiRequest, times: int = 2) -> list[Observation]:
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

    def _observed(self, ex: Exchange, fmt: str | None) -> Observation:
        self.exchanges.append(ex)
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


class ConformancePlugin:
    """Registered once per run; holds the RunState."""

    def __init__(self, state: RunState | None = None, server: Any = None) -> None:
        self.state = state
        self._server = server
        self.results: dict[str, Any] | None = None

    # -- configuration ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.state is not None and self.state.client is None:
            self.state.client = TargetClient(self.state.config)
        config.addinivalue_line("markers", "requirement(*ids, since): requirement IDs this test verifies")
        if self.state is None:
            self.state = _state_from_options(config)
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
        self.state.partial = bool(getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""))

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
            self._server.stop()
            self._server = None

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
        self.state.records.append(_test_record(item, report, call, ids))
        if report.failed and self.state.client is not None:  # console and junit.xml never see a secret
            text = str(report.longrepr)
            clean = self.state.client.redactor.scrub(text)
            if clean != text:
                report.longrepr = clean

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        assert self.state is not None
        if hasattr(session.config, "workerinput"):
            return  # an xdist worker: the controller writes the results
        from conformance.results import build_results, write_outputs

        self.results = build_results(self.state)
        write_outputs(self.results, self.state)


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(i for i in mark.args if i not in ids)
    return ids


def _test_record(
    item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None], ids: list[str]
) -> dict[str, Any]:
    api: Api | None = getattr(item, "conformance_api", None)
    findings: list[Finding] = []
    outcome = report.outcome
    message = ""
    kind = "pass"
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.skipped:
        kind = "skip"
        message = _skip_reason(report)
    elif report.failed:
        if isinstance(exc, ConformanceFailure):
            kind, findings = "fail", exc.findings
        elif isinstance(exc, TransportError):
            kind = "error"
            message = f"{'request budget' if isinstance(exc, BudgetExhausted) else 'transport'}: {exc}"
            if exc.exchange is not None:
                findings = [
                    Finding(
                        ids[0] if ids else "",
                        "transport",
                        str(exc),
                        "an HTTP response",
                        exc.kind,
                        exc.exchange,
                    )
                ]
        elif isinstance(exc, AssertionError):
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
        "hypothesis": _hypothesis_notes(exc),
    }
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
    request.node.conformance_api = handle
    if run_state.preflight_error:
        raise TransportError(f"target unreachable: {run_state.preflight_error}", "unreachable")
    if target_client.deadline_passed():  # not even a Hypothesis run: the run must end now
        raise TransportError(
            f"run deadline of {target_client.limits.run_deadline_seconds:g}s passed; test not run", "deadline"
        )
    yield handle


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
            text += "\n" + "\n".join(notes)
        return text[:4000]
    return str(report.longrepr)[:4000]


def _hypothesis_notes(exc: BaseException | None) -> list[str]:
    notes = getattr(exc, "__notes__", None) or []
    return [n for n in notes if isinstance(n, str)][:10]


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
    state = RunState(
        config=target,  # type: ignore[arg-type]  # filled by _start_embedded when None
        profile=opt.conformance_profile,
        include_slow=opt.include_slow,
        seed=seed,
        settings_profile=opt.conformance_settings,
        max_examples=opt.conformance_max_examples,
        report_dir=Path(opt.conformance_report_dir),
        embedded=target is None,
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

    for name, value in (
        ("--request-budget", budget),
        ("--max-rps", rps),
        ("--timeout", timeout),
        ("--deadline", deadline),
    ):
        if value is not None and value < 0:
            raise ConfigError(f"{name}: must be a non-negative number")
    if ca_bundle is not None:
        if not Path(ca_bundle).is_file():
            raise ConfigError(f"--ca-bundle: file not found: {ca_bundle}")
        cfg = replace(cfg, ca_bundle=str(ca_bundle))
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
    """Entry for ``-p conformance.plugin``: register one ConformancePlugin unless the CLI did."""
    if find_plugin(config) is None:
        config.pluginmanager.register(ConformancePlugin(), "conformance-plugin")
