"""``conformance selftest``: prove the suite catches every fault and passes every conformant variant.

A suite that certifies a server is only worth its false-negative and false-positive rates. This
command measures both against the embedded reference: it runs the suite against the clean
reference, against every conformant variant (each must PASS: the run is CONFORMANT, exit 0, with
every MUST of its profile verified; an INCOMPLETE run means the harness did not configure what
the suite needs, and fails the case), and against the reference with each fault injected (each
must be DETECTED: the run exits 1 or 3 with at least one MUST requirement failed, errored or
blocked). Each case gets its own server, in its own worker process, and the suite runs as a user
runs it (``python -m conformance run --config ...`` in a subprocess), so a case can neither share
state with nor crash another.

Detection for a fault whose expected requirements are all SHOULD-level (e.g. nonce replay) means
those requirements fail as warnings: such a defect never makes a target NOT CONFORMANT, but the
suite must still notice it. The requirement IDs that caught a fault are compared with the fault
table's ``detected_by``; a difference is reported as information, never as a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance.catalog import load_catalog

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
NOT_PASSING = ("fail", "error", "blocked")
UNVERIFIED = ("blocked", "skip", "not-run", "untested")
RUN_EXIT_CODES = (0, 1, 3, 4)  # CONFORMANT, NOT CONFORMANT, UNREACHABLE, INCOMPLETE
Kind = Literal["reference", "variant", "fault"]


@dataclass(frozen=True)
class Case:
    """One suite run: the clean reference, a variant or a fault, with the profile it runs under."""

    kind: Kind
    name: str
    profile: str
    group: str = ""
    description: str = ""
    expected: tuple[str, ...] = ()  # a fault's detected_by from the table
    needs_profile: str = "core"


@dataclass(frozen=True)
class RunOptions:
    report_dir: str
    seed: int
    settings: str
    max_examples: int | None
    keyword: str | None
    timeout: float


@dataclass
class CaseResult:
    case: Case
    outcome: str  # pass | FAIL (reference/variant); detected | UNDETECTED (fault); ERROR
    ok: bool
    exit_code: int | None
    verdict: str = ""
    detected_by: list[str] = field(default_factory=list)  # requirements failed, errored or blocked
    blocked: list[str] = field(default_factory=list)  # of those, only blocked by another's failure
    warnings: list[str] = field(default_factory=list)  # SHOULD requirements that failed
    missing_expected: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report_dir: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("case"))
        data["expected"] = list(self.case.expected)
        return data


# ------------------------------------------------------------------ selecting the cases
def all_cases(profile: str) -> list[Case]:
    """Every case, in table order: the clean reference, the variants, then the faults."""
    from conformance.reference.faults import FAULT_LIST
    from conformance.reference.variants import VARIANT_LIST

    cases = [Case("reference", "reference", profile, description="the clean reference server")]
    cases += [
        Case(
            "variant",
            v.name,
            _run_profile(v.profile, profile),
            description=v.description,
            needs_profile=v.profile,
        )
        for v in VARIANT_LIST
    ]
    cases += [
        Case(
            "fault",
            f.name,
            _run_profile(f.profile, profile),
            f.group,
            f.description,
            tuple(f.detected_by),
            f.profile,
        )
        for f in FAULT_LIST
    ]
    return cases


def _run_profile(needed: str, allowed: str) -> str:
    """A case runs with the profile it needs, unless the user capped the profile at core."""
    return "full" if needed == "full" and allowed == "full" else "core"


def select_cases(
    cases: list[Case],
    *,
    faults: Iterable[str] = (),
    variants: Iterable[str] = (),
    subset: bool = False,
    profile: str = "full",
) -> list[Case]:
    """Apply --fault/--variant/--subset/--profile; raises ValueError for an unknown name.

    Naming faults or variants restricts the run to exactly those (no clean reference). Without
    names, ``--profile core`` leaves out faults that only the full profile can detect, and
    ``--subset`` keeps one fault per requirement group plus every variant and the reference.
    """
    faults, variants = list(faults), list(variants)
    by_kind = {(c.kind, c.name): c for c in cases}
    unknown = [f"fault {n}" for n in faults if ("fault", n) not in by_kind]
    unknown += [f"variant {n}" for n in variants if ("variant", n) not in by_kind]
    if unknown:
        raise ValueError(f"unknown {', '.join(unknown)} (see 'conformance serve --list')")
    if faults or variants:
        return [by_kind[("variant", n)] for n in dict.fromkeys(variants)] + [
            by_kind[("fault", n)] for n in dict.fromkeys(faults)
        ]
    chosen = [c for c in cases if not (c.kind == "fault" and c.needs_profile == "full" and profile == "core")]
    if subset:
        chosen = representative_subset(chosen)
    return chosen


def representative_subset(cases: list[Case]) -> list[Case]:
    """The reference, every variant, and the first fault of each requirement group (table order)."""
    seen: set[str] = set()
    out = []
    for case in cases:
        if case.kind == "fault":
            if case.group in seen:
                continue
            seen.add(case.group)
        out.append(case)
    return out


# ------------------------------------------------------------------ running one case
def run_case(case: Case, options: RunOptions) -> CaseResult:
    """Start the server for ``case``, run the suite against it in a subprocess, judge the outcome."""
    from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config

    _terminate_as_interrupt()  # SIGTERM: leave the with-blocks, so the temp config (secrets) is removed
    started = time.monotonic()
    out_dir = Path(options.report_dir) / f"{case.kind}-{case.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").unlink(missing_ok=True)  # never judge a previous run's results
    settings = ReferenceSettings(
        clock_control=True,
        faults=frozenset([case.name]) if case.kind == "fault" else frozenset(),
        variant=case.name if case.kind == "variant" else None,
    )
    # The target config holds live secrets: it lives in a temp dir, never beside the reports. The
    # server's own log goes to server.log (this worker runs one case at a time, so redirecting is safe).
    with (
        tempfile.TemporaryDirectory(prefix="selftest-") as tmp,
        open(out_dir / "server.log", "w", encoding="utf-8") as log,
        contextlib.redirect_stderr(log),
        ReferenceServer(settings) as server,
    ):
        config = Path(tmp) / "target.toml"
        write_target_config(server, config)
        cmd = [
            sys.executable,
            "-m",
            "conformance",
            "run",
            "--config",
            str(config),
            "--report-dir",
            str(out_dir),
            "--profile",
            case.profile,
            "--seed",
            str(options.seed),
            "--settings",
            options.settings,
            "--quiet",
        ]
        if options.max_examples is not None:
            cmd += ["--max-examples", str(options.max_examples)]
        if options.keyword:
            cmd += ["-k", options.keyword]
        try:
            proc = _run_child(cmd, options.timeout)
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
    shown = " ".join(cmd[2:]).replace(str(config), "TARGET.toml")
    (out_dir / "run.log").write_text(f"$ python {shown}\n\n{proc.stdout}\n{proc.stderr}", encoding="utf-8")
    result = judge(case, proc.returncode, _load(out_dir / "results.json"), selection=bool(options.keyword))
    result.seconds = round(time.monotonic() - started, 1)
    result.report_dir = str(out_dir)
    if result.outcome == "ERROR" and not result.note:
        result.note = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return result


def _run_child(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The case's ``conformance run``; interrupted, it is asked to stop (it writes its reports and
    removes its temp files) before it is killed."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise
        except KeyboardInterrupt:
            child.terminate()
            try:
                child.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
            raise
    return subprocess.CompletedProcess(cmd, child.returncode, out, err)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def judge(
    case: Case, exit_code: int, results: dict[str, Any] | None, *, selection: bool = False
) -> CaseResult:
    """Decide pass/detected from the run's exit code and its results.json.

    The clean reference and a variant pass only when the run is CONFORMANT with every MUST of
    its profile verified: nothing skipped, cut short or accepted as a gap. With ``selection``
    (selftest -k) requirements left out by the selection are the only gaps allowed.
    """
    if results is None or exit_code not in RUN_EXIT_CODES:
        return CaseResult(
            case, "ERROR", False, exit_code, note=f"run exited {exit_code} without usable results"
        )
    reqs = results.get("requirements", [])
    must_bad = [r["id"] for r in reqs if r["level"] == "MUST" and r["verdict"] in NOT_PASSING]
    should_bad = [r["id"] for r in reqs if r["level"] == "SHOULD" and r["verdict"] in NOT_PASSING]
    blocked = [r["id"] for r in reqs if r["verdict"] == "blocked"]
    verdict = str(results.get("summary", {}).get("verdict", ""))
    base = CaseResult(
        case,
        "",
        False,
        exit_code,
        verdict=verdict,
        detected_by=must_bad + should_bad,
        blocked=blocked,
        warnings=should_bad,
    )
    if case.kind != "fault":
        gaps = [
            f"{r['id']} ({r.get('unverified_reason') or r['verdict']})"
            for r in reqs
            if r["level"] == "MUST"
            and r["verdict"] in UNVERIFIED
            and not (selection and r.get("unverified_cause") == "deselected")
        ]
        verified = not gaps and not must_bad
        base.ok = verified and (exit_code == 0 or (selection and exit_code == 4))
        base.outcome = "pass" if base.ok else "FAIL"
        if gaps and not must_bad:
            base.note = "INCOMPLETE, the harness left MUSTs unverified: " + "; ".join(gaps)[:600]
        return base
    catalog = load_catalog()
    should_only = bool(case.expected) and all(
        rid in catalog and catalog[rid].level == "SHOULD" for rid in case.expected
    )
    if should_only:
        base.ok = any(rid in should_bad for rid in case.expected) or bool(must_bad and exit_code in (1, 3))
    else:
        base.ok = exit_code in (1, 3) and bool(must_bad)
    base.outcome = "detected" if base.ok else "UNDETECTED"
    base.missing_expected = [rid for rid in case.expected if rid not in base.detected_by]
    base.unexpected = [rid for rid in base.detected_by if rid not in case.expected and rid not in blocked]
    if not base.ok and case.needs_profile == "full" and case.profile != "full":
        base.note = "needs --profile full"
    return base


# ------------------------------------------------------------------ the matrix
def run_matrix(cases: list[Case], options: RunOptions, jobs: int, progress: bool = True) -> list[CaseResult]:
    """Run every case, ``jobs`` at a time, each in its own worker process; results in case order."""
    results: dict[int, CaseResult] = {}
    ctx = multiprocessing.get_context("spawn")  # no inherited threads or sockets from this process
    with (
        ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool,
        _stop_workers_on_interrupt(pool),
    ):
        futures = {pool.submit(run_case, case, options): i for i, case in enumerate(cases)}
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


def _raise_interrupt(signum: int, frame: Any) -> None:
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


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    faults = [r for r in results if r.case.kind == "fault"]
    variants = [r for r in results if r.case.kind == "variant"]
    reference = [r for r in results if r.case.kind == "reference"]
    return {
        "ok": all(r.ok for r in results),
        "faults_total": len(faults),
        "faults_detected": sum(r.ok for r in faults),
        "variants_total": len(variants),
        "variants_passed": sum(r.ok for r in variants),
        "reference_passed": all(r.ok for r in reference) if reference else None,
        "undetected_faults": [r.case.name for r in faults if not r.ok],
        "failed_variants": [r.case.name for r in variants if not r.ok],
        "detection_mismatches": [
            r.case.name for r in faults if r.ok and (r.missing_expected or r.unexpected)
        ],
    }


def print_matrix(results: list[CaseResult], summary: dict[str, Any], seconds: float) -> None:
    width = max((len(r.case.name) for r in results), default=10)
    print()
    print(
        f"{'kind':<9}  {'name':<{width}}  {'group':<8}  {'profile':<7}  {'result':<10}  detected by / notes"
    )
    print(f"{'-' * 9}  {'-' * width}  {'-' * 8}  {'-' * 7}  {'-' * 10}  {'-' * 30}")
    for r in results:
        if r.case.kind == "fault":
            notes = ", ".join(rid for rid in r.detected_by if rid not in r.blocked)
            notes += f" (+{len(r.blocked)} blocked)" if r.blocked else ""
        else:
            notes = ", ".join(f"warn {w}" for w in r.warnings)
        if r.note:
            notes = f"{notes} ({r.note})" if notes else r.note
        print(
            f"{r.case.kind:<9}  {r.case.name:<{width}}  {r.case.group:<8}  {r.case.profile:<7}  "
            f"{r.outcome:<10}  {notes}"
        )
    stale = [r for r in results if r.case.kind == "fault" and r.ok and r.missing_expected]
    if stale:
        print("\ninfo: detected, but not by every requirement the fault table expects (detected_by):")
        for r in stale:
            print(f"  {r.case.name}: expected {', '.join(r.missing_expected)} to fail; they passed")
    also = sum(1 for r in results if r.case.kind == "fault" and r.ok and r.unexpected)
    if also:
        print(f"\ninfo: {also} fault(s) also failed requirements beyond detected_by (see selftest.html)")
    print()
    if summary["faults_total"]:
        print(f"faults detected: {summary['faults_detected']}/{summary['faults_total']}")
    if summary["variants_total"]:
        print(f"conformant variants passed: {summary['variants_passed']}/{summary['variants_total']}")
        proven = [r.case.name for r in results if r.case.kind == "variant" and r.ok]
        if proven:
            print(f"latitude proven: {', '.join(proven)}")
    if summary["reference_passed"] is not None:
        print(f"clean reference: {'pass' if summary['reference_passed'] else 'FAIL'}")
    for name in summary["undetected_faults"]:
        print(f"UNDETECTED fault: {name}")
    for name in summary["failed_variants"]:
        print(f"FAILED conformant variant: {name}")
    for r in results:
        if r.case.kind == "reference" and not r.ok:
            print("FAILED: the clean reference does not pass its own suite")
    print(f"selftest: {'OK' if summary['ok'] else 'FAILED'} ({len(results)} runs in {seconds:.0f}s)")


def write_reports(
    results: list[CaseResult], summary: dict[str, Any], meta: dict[str, Any], report_dir: Path
) -> list[Path]:
    """selftest.json and selftest.html (Jinja2, autoescaped) beside the per-case reports."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    report_dir.mkdir(parents=True, exist_ok=True)
    data = {"format": 1, **meta, "summary": summary, "cases": [r.to_dict() for r in results]}
    json_path = report_dir / "selftest.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "selftest_templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for case in data["cases"]:
        case["report_link"] = os.path.relpath(case["report_dir"], report_dir) if case["report_dir"] else ""
    html_path = report_dir / "selftest.html"
    html_path.write_text(env.get_template("selftest.html").render(**data), encoding="utf-8")
    return [json_path, html_path]


# ------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="only this fault (repeatable); naming cases skips the clean reference",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="only this conformant variant (repeatable)",
    )
    parser.add_argument(
        "--subset",
        action="store_true",
        help="a representative subset for CI: one fault per requirement group, all variants",
    )
    parser.add_argument(
        "--profile",
        choices=("core", "full"),
        default="full",
        help="highest suite profile to use; each case runs with the profile it needs (default full)",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs in parallel")
    parser.add_argument("--max-examples", type=int, default=10, help="Hypothesis examples per property test")
    parser.add_argument(
        "--settings",
        choices=("default", "thorough", "polite"),
        default="polite",
        help="Hypothesis settings profile of each run (default polite: edges plus a sample)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for every run (printed when omitted)")
    parser.add_argument("-k", dest="keyword", default=None, help="only suite tests matching this expression")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    parser.add_argument(
        "--report-dir", default="reports/selftest", help="where the matrix and run reports go"
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")


def main(args: argparse.Namespace) -> int:
    from conformance.commands.cli import new_seed

    try:
        cases = select_cases(
            all_cases(args.profile),
            faults=args.fault,
            variants=args.variant,
            subset=args.subset,
            profile=args.profile,
        )
    except ValueError as exc:
        print(f"conformance selftest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        for c in cases:
            print(f"{c.kind:<9}  {c.name:<36}  {c.group:<8}  {c.profile:<5}  {', '.join(c.expected)}")
        return EXIT_OK
    seed = args.seed if args.seed is not None else new_seed()
    report_dir = Path(args.report_dir)
    options = RunOptions(
        report_dir=str(report_dir),
        seed=seed,
        settings=args.settings,
        max_examples=args.max_examples,
        keyword=args.keyword,
        timeout=args.timeout,
    )
    print(
        f"conformance selftest: {len(cases)} runs, {args.jobs} at a time | seed {seed} | settings "
        f"{args.settings} | max-examples {args.max_examples} | profile up to {args.profile}",
        flush=True,
    )
    started = time.monotonic()
    _terminate_as_interrupt()
    try:
        results = run_matrix(cases, options, args.jobs)
    except KeyboardInterrupt as exc:
        print(f"conformance selftest: interrupted ({exc or 'SIGINT'}); no matrix written", file=sys.stderr)
        return 130
    seconds = time.monotonic() - started
    summary = summarize(results)
    print_matrix(results, summary, seconds)
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
        },
    }
    for path in write_reports(results, summary, meta, report_dir):
        print(f"wrote {path}")
    return EXIT_OK if summary["ok"] else EXIT_FAILED
