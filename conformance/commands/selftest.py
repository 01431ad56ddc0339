"""``conformance selftest``: prove the suite catches every fault and passes every conformant variant.

A suite that certifies a server is only worth its false-negative and false-positive rates. This
command measures both against the embedded reference: it runs the suite against the clean
reference, against every conformant variant (each must PASS: the run is CONFORMANT, exit 0, with
every MUST of its profile verified; an INCOMPLETE run means the harness did not configure what
the suite needs, and fails the case), and against the reference with each fault injected (each
must be DETECTED: the run exits 1 or 3 with at least one MUST requirement failed, errored or
blocked). A fault's run is limited to the tests of the requirements the fault table expects it to
fail (``detected_by``, passed as ``--requirement``): that is the claim the table makes, and such a
run costs a fraction of a whole one; ``--whole-suite`` runs every test against every fault.
Each case gets its own server, in its own worker process, and the suite runs as a user runs it
(``python -m conformance run --config ...``), in a process forked for the case from the warmed
worker (:class:`ForkedRun`), so a case can neither share state with nor crash another.

Detection for a fault whose expected requirements are all SHOULD-level (e.g. nonce replay) means
those requirements fail as warnings: such a defect never makes a target NOT CONFORMANT, but the
suite must still notice it. The requirement IDs that caught a fault are compared with the fault
table's ``detected_by``; beyond the run's selection, a difference is reported as information,
never as a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from conformance.commands.common import add_list_option, err, run_argv
from conformance.commands.selftest_cases import Case, CaseResult, all_cases, judge, select_cases, summarize
from conformance.commands.selftest_worker import ForkedRun, memory_backed_dir, warm_worker
from conformance.model.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from conformance.reference.server import ReferenceServer, write_target_config
from conformance.report.selftest import matrix_lines, write_reports
from conformance.suite.options import PROFILES, SETTINGS_PROFILES, new_seed


# ------------------------------------------------------------------ running one case
def run_case(case: Case, options: argparse.Namespace) -> CaseResult:
    """Start the server for ``case``, run the suite against it in a forked child, judge the outcome.

    ``options`` is the selftest command line, its seed resolved (it crosses to a worker process).
    """
    _terminate_as_interrupt()  # SIGTERM: leave the with-blocks, so the temp config (secrets) is removed
    if _INTERRUPTED.is_set():  # a case queued behind the interrupted one: the matrix is over
        raise KeyboardInterrupt("interrupted before this case started")
    started = time.monotonic()
    out_dir = Path(options.report_dir) / f"{case.kind}-{case.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").unlink(missing_ok=True)  # never judge a previous run's results
    # The target config holds live secrets: it lives in a temp dir, never beside the reports, as
    # does the server's database. The server's own log goes to server.log (this worker runs one
    # case at a time, so redirecting is safe).
    with tempfile.TemporaryDirectory(prefix="selftest-", dir=memory_backed_dir()) as tmp:
        config = Path(tmp) / "target.toml"
        cmd = run_argv(
            config,
            out_dir,
            profile=case.profile,
            seed=options.seed,
            settings=options.settings,
            options=(
                ("--max-examples", options.max_examples),
                ("-k", options.keyword or None),
                *(("--requirement", rid) for rid in run_selection(case, options)),
            ),
        )
        with (
            ForkedRun(cmd, Path(tmp)) as child,  # forked first: the server's threads are not inherited
            open(out_dir / "server.log", "w", encoding="utf-8") as log,
            contextlib.redirect_stderr(log),
            ReferenceServer(case.server_settings(str(Path(tmp) / "reference.sqlite3"))) as server,
        ):
            write_target_config(server, config)
            try:
                proc = child.run(options.timeout)
            except subprocess.TimeoutExpired:
                return CaseResult(
                    case,
                    "ERROR",
                    False,
                    None,
                    seconds=time.monotonic() - started,
                    report_dir=str(out_dir),
                    note=f"the run did not finish within {options.timeout:.0f}s",
                )
    shown = " ".join(cmd[1:]).replace(str(config), "TARGET.toml")
    (out_dir / "run.log").write_text(f"$ python {shown}\n\n{proc.stdout}\n{proc.stderr}", encoding="utf-8")
    result = judge(case, proc.returncode, _load(out_dir / "results.json"), selection=bool(options.keyword))
    result.seconds = round(time.monotonic() - started, 1)
    result.report_dir = str(out_dir)
    if result.outcome == "ERROR" and not result.note:
        result.note = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return result


def run_selection(case: Case, options: argparse.Namespace) -> tuple[str, ...]:
    """The ``--requirement`` IDs of the case's run: its targeted requirements, unless the user chose
    the tests (``-k``) or asked for the whole suite against every fault (``--whole-suite``)."""
    return () if options.keyword or options.whole_suite else case.targeted_requirements()


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ the matrix
def run_matrix(
    cases: list[Case], options: argparse.Namespace, jobs: int, progress: bool = True
) -> list[CaseResult]:
    """Run every case, ``jobs`` at a time, each in its own worker process; results in case order.

    The longest cases start first (:func:`start_order`), so the matrix does not end with one
    worker finishing a long run while the others idle.
    """
    results: dict[int, CaseResult] = {}
    ctx = multiprocessing.get_context("spawn")  # no inherited threads or sockets from this process
    with (
        ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=warm_worker) as pool,
        _stop_workers_on_interrupt(pool),
    ):
        order = start_order(cases, targeted=not (options.keyword or options.whole_suite))
        futures = {pool.submit(run_case, cases[i], options): i for i in order}
        for done, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # a worker that died must still show up in the matrix
                results[i] = CaseResult(cases[i], "ERROR", False, None, note=f"{type(exc).__name__}: {exc}")
            if progress:
                r = results[i]
                print(
                    f"[{done:>3}/{len(cases)}] {r.case.kind:<9} {r.case.name:<36} {r.outcome:<10} "
                    f"{r.seconds:5.1f}s",
                    flush=True,
                )
    return [results[i] for i in range(len(cases))]


def default_jobs() -> int:
    """One run per core and one more: a run waits part of its time (each request's round trip
    goes from its client to its server and back; behind a rate-limiting front it mostly waits),
    and the extra run fills those gaps (figures: docs/performance.md, "Self-validation")."""
    return (os.cpu_count() or 1) + 1


def start_order(cases: list[Case], targeted: bool = True) -> list[int]:
    """Indexes of ``cases``, the longest runs first: whole-suite runs before targeted ones (with
    ``targeted``), full profile before core, table order otherwise."""

    def key(i: int) -> tuple[bool, bool]:
        return (targeted and bool(cases[i].targeted_requirements()), cases[i].profile != "full")

    return sorted(range(len(cases)), key=key)


_INTERRUPTED = threading.Event()


def _raise_interrupt(signum: int, frame: Any) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _terminate_as_interrupt() -> None:
    """SIGTERM (a CI cancel) unwinds like Ctrl-C: servers stop and temp files holding secrets go."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


@contextlib.contextmanager
def _stop_workers_on_interrupt(pool: ProcessPoolExecutor) -> Any:
    """On Ctrl-C or SIGTERM: cancel what has not started and SIGTERM the workers (they clean up)."""
    try:
        yield
    except KeyboardInterrupt:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise


# ------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_list_option(
        parser, "--fault", "NAME", "only this fault (repeatable); naming cases skips the clean reference"
    )
    add_list_option(parser, "--variant", "NAME", "only this conformant variant (repeatable)")
    parser.add_argument(
        "--subset",
        action="store_true",
        help="a representative subset for CI: one fault per requirement group, all variants",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="full",
        help="highest suite profile to use; each case runs with the profile it needs (default full)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="runs in parallel (default: the machine's cores and one more)",
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=None,
        help="Hypothesis examples per property test (default: the settings profile's, as a user's run)",
    )
    parser.add_argument(
        "--settings",
        choices=SETTINGS_PROFILES,
        default="polite",
        help="Hypothesis settings profile of each run (default polite: edges plus a sample)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for every run (printed when omitted)")
    parser.add_argument(
        "--whole-suite",
        action="store_true",
        help="run the whole suite against every fault (slower; shows every requirement a fault "
        "trips); by default a fault's run runs the tests of the requirements it is expected to fail",
    )
    parser.add_argument("-k", dest="keyword", default=None, help="only suite tests matching this expression")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    parser.add_argument(
        "--report-dir", default="reports/selftest", help="where the matrix and run reports go"
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")


def main(args: argparse.Namespace) -> int:
    try:
        cases = select_cases(
            all_cases(args.profile),
            faults=args.fault,
            variants=args.variant,
            subset=args.subset,
            profile=args.profile,
        )
    except ValueError as exc:
        err(str(exc), "conformance selftest")
        return EXIT_USAGE
    if args.list:
        for c in cases:
            print(f"{c.kind:<9}  {c.name:<36}  {c.group:<8}  {c.profile:<5}  {', '.join(c.expected)}")
        return EXIT_OK
    seed = args.seed = args.seed if args.seed is not None else new_seed()
    report_dir = Path(args.report_dir)
    examples = f"{args.settings}'s" if args.max_examples is None else args.max_examples
    faults = "the whole suite" if args.whole_suite or args.keyword else "the tests of their requirements"
    print(
        f"conformance selftest: {len(cases)} runs, {args.jobs} at a time | seed {seed} | settings "
        f"{args.settings} | max-examples {examples} | profile up to {args.profile} | faults: {faults}",
        flush=True,
    )
    started = time.monotonic()
    _terminate_as_interrupt()
    try:
        results = run_matrix(cases, args, args.jobs)
    except KeyboardInterrupt as exc:
        err(f"interrupted ({exc or 'SIGINT'}); no matrix written", "conformance selftest")
        return EXIT_INTERRUPTED
    seconds = time.monotonic() - started
    summary = summarize(results)
    cases_data = [r.to_dict() for r in results]
    for line in matrix_lines(cases_data, summary, seconds):
        print(line)
    meta = {
        "seed": seed,
        "duration_seconds": round(seconds, 1),
        "jobs": args.jobs,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds)),
        "options": {
            "profile": args.profile,
            "settings": args.settings,
            "max_examples": args.max_examples,
            "subset": args.subset,
            "keyword": args.keyword,
            "whole_suite": args.whole_suite,
        },
    }
    for path in write_reports(cases_data, summary, meta, report_dir):
        print(f"wrote {path}")
    return EXIT_OK if summary["ok"] else EXIT_FAILED
