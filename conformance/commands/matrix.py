"""``conformance matrix``: run several targets side by side, or merge finished runs, into one matrix.

- ``conformance matrix results/*.json certs/*.zip`` merges finished runs (CI matrix jobs run
  targets in parallel; one job merges them) and certificates, each verified with the reviewer's
  trust anchors (``--public-key``, ``--allowed-signers``). No scheduler: any job runner that leaves
  a results.json per target will do. ``--label NAME=PATH`` names a column.
- ``conformance matrix --config a.toml --config b.toml`` runs ``conformance run`` for each target
  as a subprocess (so each keeps its own request budget, rate cap and deadline, and one crashing
  target cannot take another down), ``--jobs`` at a time, each into ``REPORT_DIR/<name>/``.
- ``conformance matrix --demo`` starts the embedded reference, every conformant variant and a few
  faults (the cases ``conformance selftest`` knows), and certifies each side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from conformance.commands.common import UsageError, add_list_option, err, run_argv
from conformance.commands.selftest_cases import Case, all_cases, representative_subset
from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.model.text import printable
from conformance.reference.server import ReferenceServer, write_target_config
from conformance.report.certificate import CertificateError
from conformance.report.matrix import Implementation, MatrixError, load_implementation, write_matrix
from conformance.report.trust import load_anchors
from conformance.suite.options import PROFILES, SETTINGS_PROFILES, new_seed

COMMAND = "conformance matrix"
DEMO_FAULTS = 3  # faults shown beside the conformant cases by --demo


@dataclass(frozen=True)
class Target:
    name: str
    config: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="*", help="results.json files of finished runs, or certificate.zip bundles, to merge"
    )
    add_list_option(parser, "--label", "NAME=PATH", "the column name of the input at PATH (repeatable)")
    add_list_option(parser, "--public-key", "FILE", "a PEM Ed25519 key trusted to sign certificates")
    add_list_option(parser, "--allowed-signers", "FILE", "trusted keys bound to target patterns")
    add_list_option(parser, "--config", "FILE", "a target to run (repeatable)")
    parser.add_argument(
        "--demo", action="store_true", help="the reference, its conformant variants, a few faults"
    )
    parser.add_argument(
        "--report-dir", default="reports/matrix", help="where matrix.html and per-target runs go"
    )
    parser.add_argument("--profile", choices=PROFILES, default="core")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="targets run at once")
    parser.add_argument(
        "--seed", type=int, default=None, help="one seed for every run (printed when omitted)"
    )
    parser.add_argument(
        "--max-examples", type=int, default=None, help="Hypothesis examples per property test"
    )
    parser.add_argument("--settings", choices=SETTINGS_PROFILES, default="default")
    parser.add_argument("--request-budget", type=int, default=None, help="request budget of each target")
    parser.add_argument("--max-rps", type=float, default=None, help="requests per second cap of each target")
    parser.add_argument("--certify", action="store_true", help="ask each run for a certificate (--demo does)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one target's run may take")


def _labels(given: Sequence[str], inputs: Sequence[str]) -> dict[str, str]:
    """``--label NAME=PATH`` as PATH -> NAME; UsageError for a malformed one or an unknown PATH."""
    out = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--label {printable(item, 80)}: expected NAME=PATH")
        if path not in inputs:
            raise UsageError(f"--label {printable(item, 80)}: {printable(path, 80)} is not one of the inputs")
        out[path] = name
    return out


def _dir_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "target"


def targets_from_configs(configs: Sequence[str]) -> list[Target]:
    """One target per --config, named after the file (a-b.toml -> a-b), made unique."""
    out: list[Target] = []
    used: set[str] = set()
    for path in configs:
        base = _dir_name(Path(path).stem)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        out.append(Target(name, path))
    return out


def run_command(target: Target, args: argparse.Namespace, seed: int, out_dir: Path) -> list[str]:
    options = (
        ("--max-examples", args.max_examples),
        ("--request-budget", args.request_budget),
        ("--max-rps", args.max_rps),
    )
    flags = ["--certify"] if args.certify else []
    return run_argv(
        target.config,
        out_dir,
        profile=args.profile,
        seed=seed,
        settings=args.settings,
        options=options,
        flags=flags,
    )


def run_targets(
    targets: Sequence[Target], args: argparse.Namespace, seed: int, report_dir: Path
) -> list[Path]:
    """Run every target concurrently (``--jobs`` at a time); the results.json paths, in target order."""

    def one(target: Target) -> Path:
        out_dir = report_dir / target.name
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").unlink(missing_ok=True)  # never show a previous run's verdict
        started = time.monotonic()
        cmd = run_command(target, args, seed, out_dir)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            log, code = proc.stdout + proc.stderr, str(proc.returncode)
        except subprocess.TimeoutExpired:
            log, code = f"the run did not finish within {args.timeout:.0f}s", "timeout"
        (out_dir / "run.log").write_text(log, encoding="utf-8")
        print(f"  {target.name:<36} exit {code:<7} {time.monotonic() - started:6.1f}s", flush=True)
        return out_dir / "results.json"

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        return list(pool.map(one, targets))


def _demo_cases(profile: str) -> list[Case]:
    """The clean reference, every conformant variant and the first few core faults (selftest's table)."""
    cases = all_cases(profile)
    chosen = [c for c in cases if c.kind in ("reference", "variant")]
    faults = [c for c in representative_subset(cases) if c.kind == "fault" and c.needs_profile == "core"]
    return chosen + faults[:DEMO_FAULTS]


def run_demo(args: argparse.Namespace, seed: int, report_dir: Path) -> list[Implementation]:
    cases = _demo_cases(args.profile)
    report_dir.mkdir(parents=True, exist_ok=True)
    with (
        ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="conformance-matrix-") as tmp,
        open(report_dir / "servers.log", "w", encoding="utf-8") as log,
        contextlib.redirect_stderr(log),  # the in-process servers' own messages, not the console's
    ):
        targets = []
        for case in cases:
            server = stack.enter_context(ReferenceServer(case.server_settings()))
            config = Path(tmp) / f"{case.kind}-{case.name}.toml"  # live secrets: never beside the reports
            write_target_config(server, config)
            targets.append(
                Target(case.name if case.kind == "reference" else f"{case.kind}-{case.name}", str(config))
            )
        print(f"conformance matrix --demo: {len(targets)} servers, {args.jobs} runs at a time", flush=True)
        paths = run_targets(targets, args, seed, report_dir)
    return _load_all(paths, targets, report_dir)


def _load_all(paths: Sequence[Path], targets: Sequence[Target], report_dir: Path) -> list[Implementation]:
    impls = []
    for path, target in zip(paths, targets, strict=True):
        try:
            impls.append(load_implementation(path, report_dir, target.name))
        except MatrixError:
            err(f"{target.name}: no results (see {path.parent / 'run.log'})", COMMAND)
    return impls


def main(args: argparse.Namespace) -> int:
    modes = sum((bool(args.results), bool(args.config), bool(args.demo)))
    if modes != 1:
        err("give results.json files, or --config FILE (repeatable), or --demo (one of them)", COMMAND)
        return EXIT_USAGE
    if args.jobs < 1:
        err("--jobs must be at least 1", COMMAND)
        return EXIT_USAGE
    report_dir = Path(args.report_dir)
    seed = args.seed if args.seed is not None else new_seed()
    started = time.monotonic()
    try:
        labels = _labels(args.label, args.results)
        anchors = load_anchors(args.public_key, args.allowed_signers)
    except (UsageError, CertificateError) as exc:
        err(str(exc), COMMAND)
        return EXIT_USAGE
    try:
        if args.results:
            impls = [load_implementation(p, report_dir, labels.get(p), anchors=anchors) for p in args.results]
        elif args.config:
            missing = [c for c in args.config if not Path(c).is_file()]
            if missing:
                err(f"config not found: {', '.join(missing)}", COMMAND)
                return EXIT_USAGE
            targets = targets_from_configs(args.config)
            print(
                f"conformance matrix: {len(targets)} targets, {args.jobs} at a time, seed {seed}", flush=True
            )
            impls = _load_all(run_targets(targets, args, seed, report_dir), targets, report_dir)
        else:
            args.certify = True
            impls = run_demo(args, seed, report_dir)
    except MatrixError as exc:
        err(str(exc), COMMAND)
        return EXIT_USAGE
    if not impls:
        err("no implementation produced results", COMMAND)
        return EXIT_FAILED
    json_path, html_path, matrix = write_matrix(impls, report_dir)
    for notice in matrix["notices"]:
        print(f"note: {printable(notice, 500)}")
    for col in matrix["implementations"]:
        t = col["totals"]
        own = "; DISAGREES WITH ITS OWN RECORDS" if col["disagrees_with_own_records"] else ""
        print(
            f"{printable(col['name'], 60):<36} {col['verdict']:<16} MUST {t['must_passed']} passed, "
            f"{t['must_failed']} failed, "
            f"{t['must_unverified']} not verified; bounds {col['bounds_policy']}; "
            f"{printable(col['evidence'], 200)}{own}"
        )
    print(
        f"{len(impls)} implementations, {matrix['disagreements']} requirements where they disagree "
        f"({time.monotonic() - started:.1f}s)"
    )
    print(f"wrote {json_path}\nwrote {html_path}")
    return EXIT_OK
