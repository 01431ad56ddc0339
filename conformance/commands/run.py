"""``conformance run``: configure, preflight, run the suite through pytest, summarise, exit."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from conformance.catalog import load_catalog
from conformance.checks import Observation, measure_skew, observe
from conformance.commands.cli import EXIT_USAGE, new_seed, suite_dir
from conformance.config import (
    ConfigError,
    TargetConfig,
    check_ca_bundle,
    check_callback_listen,
    check_limit,
    check_requirement_ids,
    load_config,
    parse_config,
)
from conformance.model.exchange import ApiRequest
from conformance.report.console import Progress, summary_lines, use_color
from conformance.report.console import unverified_lines as unverified_lines  # re-exported
from conformance.results import VERDICT_LABELS, build_results, write_outputs
from conformance.spec import GET_REPLACE_TOKEN
from conformance.suite.plugin import ConformancePlugin, InterruptSignals, RunState, apply_limit_overrides
from conformance.transport.client import BODY_REDACTED, NetworkOptions, TargetClient, TransportError
from conformance.transport.receiver import LISTEN_ENV, describe_plan, plan_receiver

SLOW_TEST_ALLOWANCE = 20 * 60  # seconds added to the run deadline by --include-slow
PREVIOUS_RESULTS = "results.previous.json"  # where a new run keeps the report dir's earlier results
CLOCK_SKEW_SUSPECT = 120  # seconds: beyond this a refused signature may be the local clock's fault


def _err(message: str) -> None:
    print(f"conformance: {message}", file=sys.stderr)


class UsageError(Exception):
    """A command-line mistake found before any request: exit 2 with this one line."""


class PreflightError(Exception):
    """A mistake in what the user gave the run, found by the preflight: exit 2 with this one line."""


def run(args: Any) -> int:
    """Validate everything the user gave, then run; every user mistake is one line and exit 2.

    Config, command line, environment, report directory and the -k selection are all checked
    before the first request; the preflight (inside :func:`run_suite`) then checks what only the
    target can tell (credentials, photo_id, base_url) before the suite proper.
    """
    server = None
    try:
        if args.max_examples is not None and args.max_examples < 1:
            raise UsageError(f"--max-examples: must be at least 1, got {args.max_examples}")
        for key, name, value in (
            ("request_budget", "--request-budget", args.request_budget),
            ("requests_per_second", "--max-rps", args.max_rps),
            ("timeout_seconds", "--timeout", args.timeout),
            ("run_deadline_seconds", "--deadline", getattr(args, "deadline", None)),
        ):
            if value is not None:
                check_limit(key, value, name)
        if getattr(args, "ca_bundle", None) is not None:
            check_ca_bundle(args.ca_bundle, "--ca-bundle")
        file_config = load_config(args.config) if args.config else None
        listen = os.environ.get(LISTEN_ENV, "").strip()
        if listen:
            check_callback_listen(listen, LISTEN_ENV)
        if args.profile == "full" and file_config is not None and not file_config.destructive:
            _err(
                "--profile full replaces the file of photo_id on the target; it needs 'destructive = true' "
                f"in {file_config.source}"
            )
            return EXIT_USAGE
        check_report_dir(Path(args.report_dir))
        if args.keyword:
            check_selection(args.keyword, args.profile)
        args.requirement_ids = check_requirements(getattr(args, "requirement", None) or [], args.profile)
        network = network_options(args)
        args.network = network
        if file_config is not None:
            config = file_config
        else:
            from conformance.reference.server import ReferenceServer, ReferenceSettings

            server = ReferenceServer(ReferenceSettings(clock_control=True)).start()
            config = parse_config(server.target_config(), source="<embedded reference>")
            print(f"conformance: no --config given; certifying the embedded reference at {server.base_url}")
        config = apply_limit_overrides(
            config,
            args.request_budget,
            args.max_rps,
            args.timeout,
            deadline=getattr(args, "deadline", None),
            ca_bundle=getattr(args, "ca_bundle", None),
        )
        if args.include_slow and getattr(args, "deadline", None) is None:
            # The real-time expiry test waits 15 minutes past valid_until; give the run room for it.
            config = replace(
                config,
                limits=replace(
                    config.limits,
                    run_deadline_seconds=config.limits.run_deadline_seconds + SLOW_TEST_ALLOWANCE,
                ),
            )
        return run_suite(config, args, embedded=server is not None)
    except ConfigError as exc:
        _err(f"config error: {exc}")
        return EXIT_USAGE
    except (UsageError, PreflightError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    finally:
        if server is not None:
            server.stop()


def _suite_pytest_args() -> list[str]:
    """How pytest is pointed at the shipped suite, for the run and for validating a selection alike."""
    suite = suite_dir()
    return [str(suite), "-c", str(suite / "suite.ini"), "--rootdir", str(suite), "-p", "no:cacheprovider"]


def run_suite(config: TargetConfig, args: Any, *, embedded: bool) -> int:
    from conformance.report.certificate import CertificateError, signing_key

    try:  # a bad key file is a usage error before any request, not a lost run
        sign_key = signing_key(getattr(args, "sign_key", None), getattr(args, "certify", False))
    except CertificateError as exc:
        _err(str(exc))
        return EXIT_USAGE
    seed = args.seed if args.seed is not None else new_seed()
    report_dir = Path(args.report_dir)
    # Requirement IDs accepted as unverified: the config's [verdict] and --accept-unverified.
    given = getattr(args, "accept_unverified", None) or []
    cli_accepted = check_requirement_ids(given, "--accept-unverified")
    accepted = tuple(dict.fromkeys((*config.accept_unverified, *cli_accepted)))
    state = RunState(
        config=config,
        profile=args.profile,
        include_slow=args.include_slow,
        seed=seed,
        settings_profile=args.settings,
        max_examples=args.max_examples,
        report_dir=report_dir,
        embedded=embedded,
        accept_unverified=accepted,
    )
    state.client = TargetClient(config, getattr(args, "network", None))
    if state.client.proxies:
        print(f"conformance: via proxy {_proxy_display(state.client.proxies)}")
    print(
        f"conformance: target {config.base_url} | profile {args.profile} | seed {seed} "
        f"(reproduce with --seed {seed}) | settings {args.settings}"
    )
    receiver_line = describe_plan(plan_receiver(config)) if args.profile == "full" else None
    if receiver_line:
        print(f"conformance: {receiver_line}")
    # SIGINT and SIGTERM (a CI cancel) end the run like Ctrl-C: reports are written, exit 130.
    signals = InterruptSignals(state).install()
    plugin = ConformancePlugin(state)
    pytest_output = bool(getattr(args, "pytest_output", False))
    color = use_color(getattr(args, "color", "auto") or "auto", sys.stdout)
    plugins: list[Any] = [plugin]
    selected = getattr(args, "requirement_ids", None)
    if selected:
        plugins.append(RequirementSelection(state, selected, list(getattr(args, "requirement", []))))
    if not pytest_output and not args.quiet:
        plugins.append(Progress(state, sys.stdout, tty=sys.stdout.isatty(), color=color))
    try:
        state.preflight_error = preflight(state.client, state)
        if state.preflight_error:
            _err(f"target unreachable: {state.preflight_error}")
        keep_previous_results(report_dir)
        pytest_args = [
            *_suite_pytest_args(),
            "-p",
            "conformance.suite.plugin",
            f"--junitxml={report_dir / 'junit.xml'}",
            "-o",
            "junit_family=xunit2",
            "-o",
            "junit_suite_name=conformance",
            f"--hypothesis-seed={seed}",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        if pytest_output:  # the pytest-style console of earlier versions
            pytest_args += ["--tb=no", "-rN", "--no-header", "-q" if args.quiet else "-v"]
        else:  # the suite's own console (conformance.report.console); pytest prints nothing
            pytest_args += ["-p", "no:terminal"]
        max_failures = 1 if getattr(args, "exitfirst", False) else getattr(args, "max_failures", None)
        if max_failures:
            pytest_args.append(f"--maxfail={max_failures}")
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        # Hypothesis keeps caches under .hypothesis/ in the cwd; a run leaves nothing behind (database=None).
        with tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as hypothesis_home:
            set_hypothesis_home_dir(hypothesis_home)
            try:
                code = pytest.main(pytest_args, plugins=plugins)
            finally:
                set_hypothesis_home_dir(None)
    except KeyboardInterrupt:  # outside pytest's own handling (the preflight, say): write the reports here
        state.interrupted = state.interrupted or "SIGINT"
        code = pytest.ExitCode.INTERRUPTED
        if plugin.results is None:
            state.finishing = True
            keep_previous_results(report_dir)
            plugin.results = build_results(state)
            write_outputs(plugin.results, state)
    finally:
        signals.restore()
    _scrub_file(report_dir / "junit.xml", state.client)
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        _err(f"the suite could not run (pytest exit {int(code)})")
        return EXIT_USAGE
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        _err(f"no suite test matches -k {args.keyword!r}; nothing was certified")
        return EXIT_USAGE
    results = plugin.results
    if results is None:
        _err("the suite produced no results")
        return EXIT_USAGE
    if pytest_output:
        print_summary(results)
    for line in summary_lines(results, color=color, report_dir=report_dir):
        print(line)
    code = int(results["summary"]["exit_code"])
    if getattr(args, "certify", False):
        from conformance.report.certificate import certify_after_run

        return certify_after_run(results, report_dir, sign_key, code)
    return code


def _scrub_file(path: Path, client: TargetClient) -> None:
    """Last line of defence: no secret or signature survives in a report file pytest wrote."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    # Distinctive needles only, "[redacted]" (no markup characters): the XML stays well-formed.
    clean = client.redactor.scrub_document(text, BODY_REDACTED)
    if clean != text:
        path.write_text(clean, encoding="utf-8", errors="surrogateescape")


def preflight(client: TargetClient, state: RunState | None = None) -> str | None:
    """One signed request (two when its signature is refused) before the suite: can the run work?

    Returns None when the suite can run and the transport error when the target cannot be reached
    (the run then ends UNREACHABLE, exit 3). Raises PreflightError for a mistake only the user can
    fix, before the suite sends anything else:

    - HTTP 404, an HTML page with a 2xx status, or a redirect of the API path itself to another
      scheme or host (http -> https), where an API answer belongs: base_url is not the site root
      the API answers on. An answer that parses as an API response (whatever its status) is the
      target's to be judged on, never a usage error.
    - ``invalid_signature`` to the write credentials, signed in the Authorization header and again
      in the query: the secrets (or the local clock) are wrong. A target whose verifier fails for
      every placement could not be certified either, so stopping loses no verdict; when one
      placement works the credentials are right and the suite goes on to judge the other.
    - ``no_such_photo`` for photo_id: the configured photo is not on the target, so nothing about
      replacing it can be judged.

    Deliberately not a usage error: ``permission_denied`` to the write credentials. The target
    verified the signature (so the secrets are right) and then decided the caller's level, and
    that decision is exactly what AUTH-WRITE-GRANTED judges. The suite cannot tell credentials
    mislabelled as write from a target that grants wrongly; stopping would hide the second, a
    target defect, behind a usage error. So the run goes on with the answer as evidence, and the
    console names the possible mix-up. Every other answer, however wrong, is the suite's to judge.
    """
    request = ApiRequest(params=(("photo_id", client.config.photo_id),))
    try:
        obs = _preflight_call(client, state, request)
        if _signature_refused(obs):
            obs = _preflight_call(client, state, request.but(placement="query"))
            if _signature_refused(obs):
                raise PreflightError(_credentials_message(obs, state))
        _judge_preflight(obs, client.config)
    except TransportError as exc:
        if exc.kind in ("budget", "deadline"):
            return None  # a limit, not the target: the run reports it as such
        return str(exc)
    except PreflightError:
        client.close()
        raise
    finally:
        client.reset_circuit()
    return None


def check_report_dir(path: Path) -> None:
    """The report directory exists (created if need be) and takes a file, or UsageError."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--report-dir {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"--report-dir {path}: not a writable directory ({exc.strerror or exc})") from None


def keep_previous_results(report_dir: Path) -> None:
    """An earlier run's results.json becomes results.previous.json: ``report diff`` keeps a baseline."""
    report_dir.mkdir(parents=True, exist_ok=True)
    current = report_dir / "results.json"
    if current.is_file():
        try:
            current.replace(report_dir / PREVIOUS_RESULTS)
        except OSError as exc:  # the new run still writes its own results over the old ones
            _err(f"note: could not keep the earlier results as {PREVIOUS_RESULTS}: {exc.strerror or exc}")


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
            ids = [i for mark in item.iter_markers("requirement") for i in mark.args]
            if any(i in catalog and catalog[i].in_profile(self.profile) for i in ids):
                self.in_profile += 1


def check_selection(keyword: str, profile: str) -> None:
    """UsageError unless ``-k keyword`` selects a suite test of the profile; sends no request.

    The suite is collected in-process exactly as the run collects it (``--collect-only``), so
    the expression means what pytest will make of it, parametrised ids included. The suite
    modules this imports are forgotten afterwards: their ``@settings`` bind the Hypothesis profile
    current at import, and the run loads its own profile before it imports them.
    """
    counter = _SelectionCounter(profile)
    imported_before = set(sys.modules)
    args = [
        *_suite_pytest_args(),
        "--collect-only",
        "-q",
        "-k",
        keyword,
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
    ]
    out, err = io.StringIO(), io.StringIO()
    with (
        tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as hypothesis_home,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        set_hypothesis_home_dir(hypothesis_home)
        try:
            code = pytest.main(args, plugins=[counter])
        finally:
            set_hypothesis_home_dir(None)
            for name in set(sys.modules) - imported_before:
                if name.startswith("conformance.suite."):
                    del sys.modules[name]
    if code == pytest.ExitCode.USAGE_ERROR:
        reason = next((ln for ln in (err.getvalue() + out.getvalue()).splitlines() if "ERROR" in ln), "")
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


def _preflight_call(client: TargetClient, state: RunState | None, request: ApiRequest) -> Observation:
    """Send one preflight request; it counts against the budget and feeds the clock-skew estimate."""
    exchange = client.send(request)
    if state is not None:
        state.skew_samples.append(exchange.without_body())
    return observe(exchange, "xml")


def _signature_refused(obs: Observation) -> bool:
    return obs.parsed is not None and obs.attr("code") == "invalid_signature"


def _credentials_message(obs: Observation, state: RunState | None) -> str:
    message = "write credentials rejected: check consumer_secret / access_token_secret"
    skew = measure_skew(state.skew_samples if state is not None else [obs.exchange])
    if skew is not None and abs(skew) > CLOCK_SKEW_SUSPECT:
        message += (
            f" (or the local clock: it is {abs(skew):.0f}s {'behind' if skew > 0 else 'ahead of'} the "
            "target's Date header, and OAuth timestamps that far off are refused)"
        )
    return message


def _redirected_base(status: int, location: str | None) -> str | None:
    """The site root a redirect of the API path itself points at (http -> https, another host)."""
    if status not in (301, 302, 303, 307, 308) or not location or not location.isascii():
        return None
    parts = urlsplit(location)
    suffix = GET_REPLACE_TOKEN
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.endswith(suffix):
        return None
    if not all(ch.isprintable() and not ch.isspace() for ch in parts.netloc + parts.path):
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix(suffix)}"


def _judge_preflight(obs: Observation, config: TargetConfig) -> None:
    """Raise PreflightError when the answer shows a mistake in the config (see :func:`preflight`)."""
    response = obs.exchange.response
    assert response is not None  # a transport failure raised before this
    path = urlsplit(obs.exchange.url).path
    if obs.parsed is None:
        moved_to = _redirected_base(response.status, response.header("Location"))
        if moved_to and moved_to != config.base_url.rstrip("/"):
            raise PreflightError(
                f"base_url must be the site root the API answers on (got {response.status} to "
                f'{moved_to}{GET_REPLACE_TOKEN}): set base_url = "{moved_to}"'
            )
        if response.status == 404:
            raise PreflightError(f"base_url must be the site root (got 404 for {path})")
        if 200 <= response.status < 300 and "HTML page" in (obs.parse_error or ""):
            raise PreflightError(f"base_url must be the site root (got an HTML page for {path})")
        return
    code = obs.attr("code")
    if code == "no_such_photo":
        raise PreflightError(f"photo_id {config.photo_id} does not exist on the target")
    if code == "permission_denied":
        level = obs.attr("permission_level") or ""
        level = level if re.fullmatch(r"[A-Za-z0-9_-]{1,32}", level) else "?"  # target text: no escapes
        _err(
            f"note: the target answered permission_denied (permission_level {level}) to [credentials.write]; "
            "if those are not write-level credentials, fix the config. The run goes on and judges "
            "AUTH-WRITE-GRANTED on it"
        )


def print_summary(results: dict[str, Any]) -> None:
    """The per-requirement table of the pytest-style console (``-v``); the final block follows it."""
    ran = {t["nodeid"] for t in results["tests"]}
    rows = [  # a requirement none of whose tests ran (deselected, interrupted) is listed further down
        r
        for r in results["requirements"]
        if r["verdict"] != "not-in-profile" and (r["verdict"] != "not-run" or ran.intersection(r["tests"]))
    ]
    width = max((len(r["id"]) for r in rows), default=10)
    print()
    print(f"{'requirement':<{width}}  level   verdict")
    print(f"{'-' * width}  ------  -------")
    for r in rows:
        verdict = VERDICT_LABELS[r["verdict"]]
        if r["verdict"] == "fail" and r["level"] == "SHOULD":
            verdict = "WARN"
        print(f"{r['id']:<{width}}  {r['level']:<6}  {verdict}")


def check_requirements(selection: list[str], profile: str) -> list[str]:
    """``--requirement``: the catalog IDs selected (an exact ID, or a group prefix such as ``AUTH-``).

    UsageError, before any request, for a selection that names nothing or nothing the profile's
    suite tests verify.
    """
    if not selection:
        return []
    from conformance.config import did_you_mean

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
    imported_before = set(sys.modules)
    try:
        tested = set(collect_test_index())
    finally:  # suite modules bind the Hypothesis profile at import: the run imports them afresh
        for name in set(sys.modules) - imported_before:
            if name.startswith("conformance.suite."):
                del sys.modules[name]
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
            ids = {i for mark in item.iter_markers("requirement") for i in mark.args}
            (keep if ids & self.ids else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def network_options(args: Any) -> NetworkOptions:
    """``--proxy`` / ``--no-proxy`` / ``--header``, checked before any request (UsageError)."""
    proxy = getattr(args, "proxy", None)
    if proxy is not None:
        parts = urlsplit(proxy)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise UsageError(
                f"--proxy {_redact_userinfo(proxy)!r}: not a proxy URL such as http://proxy:3128"
            )
    headers: list[tuple[str, str]] = []
    for raw in getattr(args, "header", None) or []:
        name, sep, value = raw.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or not value:
            raise UsageError("--header: expected 'Name: value' (a header name, a colon, a value)")
        if any(ch in value for ch in "\r\n\0"):
            raise UsageError(f"--header {name}: the value holds a line break")
        if name.lower() in ("authorization", "host", "content-type", "content-length"):
            raise UsageError(f"--header {name}: the suite sets this header itself")
        headers.append((name, value))
    return NetworkOptions(
        proxy=proxy, no_proxy=bool(getattr(args, "no_proxy", False)), headers=tuple(headers)
    )


def _redact_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":[redacted]@", 1)
    return url


def _proxy_display(proxies: dict[str, str]) -> str:
    return ", ".join(sorted({_redact_userinfo(u) for u in proxies.values()}))


def collect_test_index() -> dict[str, list[str]]:
    """Requirement ID -> suite tests that declare it, read from the test modules' markers."""
    import conformance.suite as suite_pkg

    index: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(suite_pkg.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"conformance.suite.{info.name}")
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn):
                continue
            for mark in getattr(fn, "pytestmark", []):
                if mark.name == "requirement":
                    for rid in mark.args:
                        index.setdefault(rid, []).append(f"{info.name}.py::{name}")
    return index


def unknown_requirement_ids() -> list[str]:
    catalog = load_catalog()
    return sorted({rid for rid in collect_test_index() if rid not in catalog})
