"""``conformance run``: configure, preflight, run the suite through pytest, summarise, exit."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from conformance.catalog import load_catalog
from conformance.cli import EXIT_USAGE, new_seed, suite_dir
from conformance.client import BODY_REDACTED, GET_REPLACE_TOKEN, ApiRequest, TargetClient, TransportError
from conformance.config import ConfigError, TargetConfig, load_config, parse_config
from conformance.plugin import ConformancePlugin, RunState, apply_limit_overrides
from conformance.results import VERDICT_LABELS

SLOW_TEST_ALLOWANCE = 20 * 60  # seconds added to the run deadline by --include-slow


def _err(message: str) -> None:
    print(f"conformance: {message}", file=sys.stderr)


def run(args: Any) -> int:
    server = None
    try:
        if args.config:
            config = load_config(args.config)
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
        if args.profile == "full" and not config.destructive:
            _err(
                "--profile full replaces the file of photo_id on the target; it needs 'destructive = true' "
                f"in {config.source}"
            )
            return EXIT_USAGE
        return run_suite(config, args, embedded=server is not None)
    except ConfigError as exc:
        _err(f"config error: {exc}")
        return EXIT_USAGE
    finally:
        if server is not None:
            server.stop()


def run_suite(config: TargetConfig, args: Any, *, embedded: bool) -> int:
    seed = args.seed if args.seed is not None else new_seed()
    report_dir = Path(args.report_dir)
    state = RunState(
        config=config,
        profile=args.profile,
        include_slow=args.include_slow,
        seed=seed,
        settings_profile=args.settings,
        max_examples=args.max_examples,
        report_dir=report_dir,
        embedded=embedded,
    )
    state.client = TargetClient(config)
    print(
        f"conformance: target {config.base_url} | profile {args.profile} | seed {seed} "
        f"(reproduce with --seed {seed}) | settings {args.settings}"
    )
    state.preflight_error = preflight(state.client)
    if state.preflight_error:
        _err(f"target unreachable: {state.preflight_error}")
    report_dir.mkdir(parents=True, exist_ok=True)
    pytest_args = [
        str(suite_dir()),
        "-c",
        str(suite_dir() / "suite.ini"),
        "--rootdir",
        str(suite_dir()),
        "-p",
        "conformance.plugin",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report_dir / 'junit.xml'}",
        "-o",
        "junit_family=xunit2",
        "-o",
        "junit_suite_name=conformance",
        f"--hypothesis-seed={seed}",
        "--tb=no",
        "-rN",
        "--no-header",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-q" if args.quiet else "-v",
    ]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    plugin = ConformancePlugin(state)
    # Hypothesis keeps caches under .hypothesis/ in the cwd; a run leaves nothing behind (database=None).
    with tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as hypothesis_home:
        set_hypothesis_home_dir(hypothesis_home)
        try:
            code = pytest.main(pytest_args, plugins=[plugin])
        finally:
            set_hypothesis_home_dir(None)
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
    print_summary(results)
    return int(results["summary"]["exit_code"])


def _scrub_file(path: Path, client: TargetClient) -> None:
    """Last line of defence: no secret or signature survives in a report file pytest wrote."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    clean = client.redactor.scrub(text, BODY_REDACTED)  # no markup characters: the XML stays well-formed
    if clean != text:
        path.write_text(clean, encoding="utf-8", errors="surrogateescape")


def preflight(client: TargetClient) -> str | None:
    """One unsigned request: any HTTP answer means reachable; a transport failure is exit 3."""
    try:
        client.send(ApiRequest(params=(), auth=None, path=GET_REPLACE_TOKEN))
    except TransportError as exc:
        return str(exc)
    finally:
        client.reset_circuit()
    return None


def print_summary(results: dict[str, Any]) -> None:
    rows = [r for r in results["requirements"] if r["verdict"] not in ("not-in-profile", "not-run")]
    width = max((len(r["id"]) for r in rows), default=10)
    print()
    print(f"{'requirement':<{width}}  level   verdict")
    print(f"{'-' * width}  ------  -------")
    for r in rows:
        verdict = VERDICT_LABELS[r["verdict"]]
        if r["verdict"] == "fail" and r["level"] == "SHOULD":
            verdict = "WARN"
        print(f"{r['id']:<{width}}  {r['level']:<6}  {verdict}")
    run = results["run"]
    summary = results["summary"]
    print()
    skew = run["clock_skew_seconds"]
    print(
        f"requests sent: {run['requests_sent']} (budget {run['request_budget']}), retries {run['retries']}, "
        f"timeouts {run['timeouts']}, clock skew {'n/a' if skew is None else f'{skew:+.1f}s'}, "
        f"duration {run['duration_seconds']:.1f}s, seed {run['seed']}"
    )
    if summary["should_warnings"]:
        print(f"warnings (SHOULD): {', '.join(summary['should_warnings'])}")
    if summary["must_not_passed"]:
        print(f"MUST not passed: {', '.join(summary['must_not_passed'])}")
        from conformance.report.evidence import console_lines

        for line in console_lines(results):
            print(line)
    print(f"verdict: {summary['verdict']} (profile {run['profile']})")


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
