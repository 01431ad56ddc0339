"""``conformance run``: check what the user gave, run the suite through pytest, summarise, exit.

Every user mistake is one line and exit 2 before the first request: the command line and the
config (:mod:`.run_options`), the ``-k`` / ``--requirement`` selection (:mod:`.selection`), then
what only the target can tell (:mod:`.preflight`). The verdict decides the exit code
(:data:`conformance.model.exit_codes.VERDICT_EXIT_CODES`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conformance.commands.common import UsageError, add_list_option, err
from conformance.commands.preflight import PreflightError, preflight
from conformance.commands.report_dir import ReportDirClaim
from conformance.commands.run_ci import RunExtras, add_ci_arguments, interrupted_junit
from conformance.commands.run_options import check_arguments, positive_int, proxy_display
from conformance.commands.selection import RequirementSelection, hypothesis_home, suite_pytest_args
from conformance.config import ConfigError, TargetConfig
from conformance.model.exit_codes import EXIT_USAGE
from conformance.report.certificate import (
    DEFAULT_VALID_DAYS,
    CertificateError,
    certify_after_run,
    signing_key,
)
from conformance.report.console import COLOR_MODES, summary_lines, use_color
from conformance.report.rendering import verdict_label
from conformance.suite.options import add_run_options, apply_limit_overrides, new_state, start_embedded
from conformance.suite.outputs import write_outputs, write_report_file
from conformance.suite.plugin import ConformancePlugin
from conformance.suite.progress import Progress
from conformance.suite.signals import InterruptSignals
from conformance.suite.state import RunState
from conformance.transport.client import TargetClient
from conformance.transport.receiver import describe_plan, plan_receiver
from conformance.transport.redaction import BODY_REDACTED

SLOW_TEST_ALLOWANCE = 20 * 60  # seconds added to the run deadline by --include-slow
PREVIOUS_RESULTS = "results.previous.json"  # where a new run keeps the report dir's earlier results


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run options both front ends share (:mod:`conformance.suite.options`), then the CLI's own."""
    add_run_options(p.add_argument, "cli")
    p.add_argument(
        "-k",
        dest="keyword",
        default=None,
        metavar="EXPR",
        help="only run suite tests whose names match this pytest expression (a partial run: INCOMPLETE)",
    )
    add_list_option(
        p,
        "--requirement",
        "ID",
        "only run the tests verifying this requirement ID, or a group given as a prefix such as "
        "AUTH- (repeatable; a partial run: INCOMPLETE)",
    )
    p.add_argument(
        "--max-failures",
        type=positive_int,
        default=None,
        metavar="N",
        help="stop after N failed tests (fast CI feedback; the tests not run are reported unverified)",
    )
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failed test")
    p.add_argument(
        "--color",
        choices=COLOR_MODES,
        default="auto",
        help="colour the console: auto (default) on a terminal unless NO_COLOR is set",
    )
    p.add_argument(
        "-v",
        "--pytest-output",
        action="store_true",
        help="pytest-style console: one line per test and a table per requirement",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the final block")
    net = p.add_mutually_exclusive_group()
    net.add_argument(
        "--proxy",
        default=None,
        metavar="URL",
        help="send every request through this proxy (default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY "
        "from the environment; a loopback target is never proxied)",
    )
    net.add_argument("--no-proxy", action="store_true", help="ignore the proxy environment variables")
    add_list_option(
        p,
        "--header",
        "'NAME: VALUE'",
        "send this header on every request, e.g. for an API gateway (repeatable); its value is "
        "treated as a secret and redacted from every report",
    )
    p.add_argument(
        "--certify",
        action="store_true",
        help="write certificate.zip into the report dir (only for a CONFORMANT verdict)",
    )
    p.add_argument(
        "--valid-days",
        type=positive_int,
        default=DEFAULT_VALID_DAYS,
        metavar="N",
        help=f"the certificate expires N days after issue (default {DEFAULT_VALID_DAYS}: 12 weeks)",
    )
    p.add_argument(
        "--sign-key",
        metavar="FILE",
        default=None,
        help="sign the certificate with this PEM Ed25519 private key",
    )
    add_ci_arguments(p)


def main(args: argparse.Namespace) -> int:
    """Validate everything the user gave, then run; every user mistake is one line and exit 2."""
    server = None
    try:
        config = check_arguments(args)
        if config is None:
            server, config = start_embedded()
            print(f"conformance: no --config given; certifying the embedded reference at {server.base_url}")
        config = apply_limit_overrides(config, vars(args))
        if args.include_slow and args.deadline is None:
            # The real-time expiry test waits 15 minutes past valid_until; give the run room for it.
            deadline = config.limits.run_deadline_seconds + SLOW_TEST_ALLOWANCE
            config = replace(config, limits=replace(config.limits, run_deadline_seconds=deadline))
        return run_suite(config, args, embedded=server is not None)
    except ConfigError as exc:
        err(f"config error: {exc}")
        return EXIT_USAGE
    except (UsageError, PreflightError) as exc:
        err(str(exc))
        return EXIT_USAGE
    finally:
        if server is not None:
            server.stop()


def _announce(state: RunState, args: argparse.Namespace) -> None:
    assert state.client is not None
    if state.client.proxies:
        print(f"conformance: via proxy {proxy_display(state.client.proxies)}")
    seed = state.seed
    print(
        f"conformance: target {state.config.base_url} | profile {args.profile} | seed {seed} "
        f"(reproduce with --seed {seed}) | settings {args.settings}"
    )
    receiver_line = describe_plan(plan_receiver(state.config)) if args.profile == "full" else None
    if receiver_line:
        print(f"conformance: {receiver_line}")


def _pytest_args(args: argparse.Namespace, report_dir: Path, seed: int) -> list[str]:
    """The pytest command line of the run: the shipped suite, the plugin, JUnit, the selection."""
    pytest_args = [
        *suite_pytest_args(),
        *("-p", "conformance.suite.plugin", f"--junitxml={report_dir / 'junit.xml'}"),
        *("-o", "junit_family=xunit2", "-o", "junit_suite_name=conformance"),
        f"--hypothesis-seed={seed}",
        # Suite tests judge with checks, never a bare assert: no rewriting of their modules. Nor the
        # unraisable-exception plugin's forced garbage collections (a quarter second per run).
        *("--assert=plain", "-p", "no:unraisableexception"),
    ]
    if args.pytest_output:  # the pytest-style console of earlier versions
        pytest_args += ["--tb=no", "-rN", "--no-header", "-q" if args.quiet else "-v"]
    else:  # the suite's own console (conformance.report.console); pytest prints nothing
        pytest_args += ["-p", "no:terminal"]
    max_failures = 1 if args.exitfirst else args.max_failures
    if max_failures:
        pytest_args.append(f"--maxfail={max_failures}")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    return pytest_args


def run_suite(config: TargetConfig, args: argparse.Namespace, *, embedded: bool) -> int:
    """Preflight, then the suite under pytest with the conformance plugin; reports, then the exit code."""
    try:  # a bad key file is a usage error before any request, not a lost run
        sign_key = signing_key(args.sign_key, args.certify)
    except CertificateError as exc:
        err(str(exc))
        return EXIT_USAGE
    state = new_state(config, vars(args), embedded=embedded)
    # SIGINT and SIGTERM (a CI cancel) end the run like Ctrl-C: reports are written, exit 130. One
    # that arrives while the report directory is being claimed is held until the run can report it.
    signals = InterruptSignals(state).install(held=True)
    try:
        with ReportDirClaim(state.report_dir) as claim:  # UsageError (exit 2) when another run holds it
            if claim.removed:
                print(f"conformance: removed the earlier {', '.join(claim.removed)} from {state.report_dir}")
            return _run_claimed(state, args, sign_key, signals)
    finally:
        signals.restore()


def _run_claimed(state: RunState, args: argparse.Namespace, sign_key: Any, signals: InterruptSignals) -> int:
    """The run proper, in a report directory no other run writes to."""
    report_dir = state.report_dir
    plugin = ConformancePlugin(state)
    extras: RunExtras | None = None
    color = use_color(args.color or "auto", sys.stdout)
    try:  # from here on, an interrupt still writes the reports (below)
        state.client = TargetClient(state.config, args.network)  # signals still held: reports need it
        signals.act()
        _announce(state, args)
        extras = RunExtras(state, args)  # --har, the CI job summary, the reports of a stopped run
        plugins: list[Any] = [plugin, *extras.plugins]
        if args.requirement_ids:
            plugins.append(RequirementSelection(state, args.requirement_ids, args.requirement))
        if not args.pytest_output and not args.quiet:
            plugins.append(Progress(state, sys.stdout, tty=sys.stdout.isatty(), color=color))
        state.preflight_error = preflight(state.client, state)
        if state.preflight_error:
            err(f"target unreachable: {state.preflight_error}")
        keep_previous_results(report_dir)
        with hypothesis_home():
            code = pytest.main(_pytest_args(args, report_dir, state.seed), plugins=plugins)
    except PreflightError as exc:  # exit 2; CI still gets results.json and junit.xml saying why
        if extras is not None:
            extras.stopped(str(exc))
        raise
    except KeyboardInterrupt:  # outside pytest's own handling (the preflight, say): write the reports here
        state.interrupted = state.interrupted or "SIGINT"
        code = pytest.ExitCode.INTERRUPTED
        if plugin.results is None:
            state.finishing = True
            keep_previous_results(report_dir)
            plugin.results = write_outputs(state)
            write_report_file(state, report_dir / "junit.xml", interrupted_junit(state.interrupted))
    _scrub_file(report_dir / "junit.xml", state)
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        err(f"the suite could not run (pytest exit {int(code)})")
        return EXIT_USAGE
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        err(f"no suite test matches -k {args.keyword!r}; nothing was certified")
        return EXIT_USAGE
    results = plugin.results
    if results is None:
        err("the suite produced no results")
        return EXIT_USAGE
    if args.pytest_output:
        print_summary(results)
    # After a failed write the directory may hold an earlier run's file: list none of them.
    for line in summary_lines(results, color=color, report_dir=None if state.write_errors else report_dir):
        print(line)
    if extras is not None:
        extras.finish(results)
    code = int(results["summary"]["exit_code"])
    if state.write_errors:  # a full disk is the environment's failure, never the target's
        first, *rest = state.write_errors
        err(str(first) + (f"; not written either: {', '.join(e.path.name for e in rest)}" if rest else ""))
        return EXIT_USAGE
    if args.certify:
        return certify_after_run(results, report_dir, sign_key, code, args.valid_days)
    return code


def _scrub_file(path: Path, state: RunState) -> None:
    """Last line of defence: no secret or signature survives in a report file pytest wrote."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    assert state.client is not None
    # Distinctive needles only, "[redacted]" (no markup characters): the XML stays well-formed.
    clean = state.client.redactor.scrub_document(text, BODY_REDACTED)
    if clean != text:
        write_report_file(state, path, clean)


def keep_previous_results(report_dir: Path) -> None:
    """An earlier run's results.json becomes results.previous.json: ``report diff`` keeps a baseline."""
    report_dir.mkdir(parents=True, exist_ok=True)
    current = report_dir / "results.json"
    if current.is_file():
        try:
            current.replace(report_dir / PREVIOUS_RESULTS)
        except OSError as exc:  # the new run still writes its own results over the old ones
            err(f"note: could not keep the earlier results as {PREVIOUS_RESULTS}: {exc.strerror or exc}")


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
        print(f"{r['id']:<{width}}  {r['level']:<6}  {verdict_label(r['verdict'], r['level'])}")
