"""``conformance``: run | serve | selftest | validate | replay | catalog | report | matrix | certificate.

Exit codes of ``run``: 0 CONFORMANT (every MUST of the profile verified and passed, or its gap
accepted); 1 NOT CONFORMANT (a MUST failed); 2 usage or config error; 3 UNREACHABLE (the target
answered nothing usable); 4 INCOMPLETE (no MUST failed, some were not verified); 130 INTERRUPTED
(SIGINT or SIGTERM; the reports are still written).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Any

from conformance.model.exchange import ApiRequest

EXIT_OK, EXIT_NOT_CONFORMANT, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_INCOMPLETE, EXIT_INTERRUPTED = 4, 130


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", metavar="FILE", help="target TOML config (default: start the embedded reference server)"
    )
    p.add_argument(
        "--profile",
        choices=("core", "full"),
        default="core",
        help="core: read-only checks (default); full: also redeem tokens, which replaces the file of "
        "photo_id on the target (needs 'destructive = true' in the config)",
    )
    p.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where report.html, junit.xml and results.json are written (default: reports)",
    )
    p.add_argument(
        "--seed", type=int, default=None, metavar="N", help="fix every Hypothesis draw (printed when omitted)"
    )
    p.add_argument(
        "--max-examples", type=int, default=None, metavar="N", help="Hypothesis examples per property test"
    )
    p.add_argument(
        "--settings",
        choices=("default", "thorough", "polite"),
        default="default",
        help="Hypothesis settings profile: fast default, thorough (nightly), polite (shared staging)",
    )
    p.add_argument("--include-slow", action="store_true", help="run tests that wait in real time (expiry)")
    p.add_argument(
        "--request-budget", type=int, default=None, metavar="N", help="maximum requests sent to the target"
    )
    p.add_argument(
        "--max-rps", type=float, default=None, metavar="X", help="cap on requests per second (0 = uncapped)"
    )
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="per-request timeout in seconds")
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="S",
        help="total run deadline in seconds: no request is sent after it ([limits] run_deadline_seconds)",
    )
    p.add_argument(
        "--ca-bundle",
        default=None,
        metavar="FILE",
        help="PEM file of CAs to trust for an https target (overrides ca_bundle in the config)",
    )
    p.add_argument(
        "-k",
        dest="keyword",
        default=None,
        metavar="EXPR",
        help="only run suite tests whose names match this pytest expression (a partial run: INCOMPLETE)",
    )
    p.add_argument(
        "--requirement",
        action="append",
        default=[],
        metavar="ID",
        help="only run the tests verifying this requirement ID, or a group given as a prefix such as "
        "AUTH- (repeatable; a partial run: INCOMPLETE)",
    )
    p.add_argument(
        "--max-failures",
        type=_positive_int,
        default=None,
        metavar="N",
        help="stop after N failed tests (fast CI feedback; the tests not run are reported unverified)",
    )
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failed test")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
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
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header on every request, e.g. for an API gateway (repeatable); its value is "
        "treated as a secret and redacted from every report",
    )
    p.add_argument(
        "--accept-unverified",
        action="append",
        default=[],
        metavar="ID",
        help="a MUST requirement knowingly left unverified (repeatable): the verdict may still be "
        "CONFORMANT, and every report shows the accepted gap ([verdict] accept_unverified)",
    )
    p.add_argument(
        "--certify",
        action="store_true",
        help="write certificate.zip into the report dir (only for a CONFORMANT verdict)",
    )
    p.add_argument(
        "--sign-key",
        metavar="FILE",
        default=None,
        help="sign the certificate with this PEM Ed25519 private key",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def version_text() -> str:
    """``conformance --version``: the suite version and the digest of the catalog it certifies against."""
    from conformance import __version__
    from conformance.catalog import catalog_sha256

    return f"conformance {__version__} (catalog sha256 {catalog_sha256()})"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the suite version and catalog digest")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_arguments(sub.add_parser("run", help="certify a target (default: the embedded reference)"))

    from conformance.reference.cli import add_arguments as add_serve_arguments

    add_serve_arguments(sub.add_parser("serve", help="run the embedded reference server"))

    v = sub.add_parser("validate", help="validate saved responses against the shipped schemas")
    v.add_argument("files", nargs="+")

    rp = sub.add_parser("replay", help="re-send one API request, signed afresh (reproduction of a finding)")
    rp.add_argument("--config", required=True)
    rp.add_argument("--method", choices=("GET", "POST"), default="GET")
    rp.add_argument("--auth", default="write", help="credential level, or 'none' for unsigned")
    rp.add_argument("--placement", choices=("header", "query", "body"), default="header")
    rp.add_argument("--path", default="/api/photo/get-replace-token")
    rp.add_argument("--tamper", action="store_true", help="sign with a wrong secret")
    rp.add_argument(
        "--post-query",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query parameter added to a POST URL",
    )
    rp.add_argument(
        "--params-json",
        default=None,
        metavar="JSON",
        help='parameters as [["key", "value"], ...] (printed for values with control characters)',
    )
    rp.add_argument("--requirement", default=None, metavar="ID", help="the requirement to re-judge")
    rp.add_argument(
        "--check", default=None, metavar="NAME", help="the check to re-judge (exit 1 on a finding)"
    )
    rp.add_argument("params", nargs="*", metavar="KEY=VALUE")

    c = sub.add_parser("catalog", help="print the requirement catalog as Markdown")
    c.add_argument("--with-tests", action="store_true")

    try:
        from conformance.commands.selftest import add_arguments as add_selftest_arguments
    except ImportError:
        pass
    else:
        add_selftest_arguments(
            sub.add_parser("selftest", help="prove the suite catches faults and passes variants")
        )

    try:
        from conformance.report.diff import add_arguments as add_report_arguments
    except ImportError:
        pass
    else:
        rep = sub.add_parser("report", help="work with results.json files")
        add_report_arguments(rep)

    from conformance.commands.certificate_verify import add_arguments as add_certificate_arguments
    from conformance.report.matrix import add_arguments as add_matrix_arguments

    add_certificate_arguments(sub.add_parser("certificate", help="verify a certificate bundle"))
    add_matrix_arguments(sub.add_parser("matrix", help="many implementations side by side (matrix.html)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from conformance.commands.run import run

            return run(args)
        if args.command == "serve":
            from conformance.reference.cli import main as serve_main

            return serve_main(args)
        if args.command == "validate":
            from conformance.commands.validate import main as validate_main

            return validate_main(args.files)
        if args.command == "replay":
            return _replay(args)
        if args.command == "catalog":
            return _catalog(args)
        if args.command == "selftest":
            from conformance.commands.selftest import main as selftest_main

            return selftest_main(args)
        if args.command == "report":
            from conformance.report.diff import main as report_main

            return report_main(args)
        if args.command == "certificate":
            from conformance.commands.certificate_verify import main as certificate_main

            return certificate_main(args)
        if args.command == "matrix":
            from conformance.report.matrix import main as matrix_main

            return matrix_main(args)
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    return EXIT_USAGE


EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE


def _reader_went_away() -> int:
    """``conformance catalog | head``: the reader closed the pipe; end quietly, as Unix tools do.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise a second time.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


class ReplayUsageError(ValueError):
    """A ``conformance replay`` command line that describes no request (exit 2, one line)."""


def _pairs(items: list[str], what: str = "parameter") -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ReplayUsageError(f"{what} {item!r} is not KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def replay_request(args: Any) -> ApiRequest:
    """The logical request a ``conformance replay`` command line describes (ReplayUsageError if none)."""
    if not args.path.startswith("/"):
        raise ReplayUsageError(f"--path {args.path!r} must start with '/' (it is appended to base_url)")
    params = _pairs(args.params)
    if getattr(args, "params_json", None):
        from conformance.commands.replay import params_from_json

        try:
            params += params_from_json(args.params_json)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise ReplayUsageError(str(exc)) from exc
    return ApiRequest(
        params=params,
        http_method=args.method,
        auth=None if args.auth == "none" else args.auth,
        placement=args.placement,
        path=args.path,
        query_on_post=_pairs(args.post_query, "--post-query"),
        tamper=args.tamper,
    )


def _replay(args: Any) -> int:
    from conformance.config import ConfigError, did_you_mean, load_config

    try:
        req = replay_request(args)
        config = load_config(args.config)
    except ReplayUsageError as exc:
        print(f"conformance replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"conformance: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if req.auth is not None and req.auth not in config.credentials:
        levels = ", ".join(sorted(config.credentials))
        print(
            f"conformance replay: --auth {req.auth}: no [credentials.{req.auth}] in {config.source} "
            f"(configured: {levels}, or 'none' for unsigned){did_you_mean(req.auth, config.credentials)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from conformance.commands.replay import run_replay

    return run_replay(req, config, args.requirement, args.check)


def _catalog(args: Any) -> int:
    from conformance.catalog import render_markdown

    index = None
    if args.with_tests:
        from conformance.commands.run import collect_test_index

        index = collect_test_index()
    print(render_markdown(index))
    return EXIT_OK


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def suite_dir() -> Path:
    return Path(__file__).parent.parent / "suite"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
