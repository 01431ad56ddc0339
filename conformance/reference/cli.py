"""``conformance serve``: run the reference server in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from .database import StorageError
from .faults import FAULT_LIST
from .selection import UnknownBehaviourName
from .server import ReferenceServer, ReferenceSettings, write_target_config
from .variants import VARIANT_LIST


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--db", default=None, metavar="PATH", help="SQLite file kept across restarts")
    parser.add_argument("--public-url", default=None, metavar="URL", help="URL clients use (behind a proxy)")
    parser.add_argument("--trust-proxy", action="store_true", help="honour X-Forwarded-Proto/Host/Port")
    parser.add_argument("--bounds-policy", choices=("clamp", "reject"), default="clamp")
    parser.add_argument(
        "--enable-clock-control", action="store_true", help="enable the /_test/ hooks (clock, inspection)"
    )
    parser.add_argument("--photo-id", default="123456", help="the seeded photo id")
    parser.add_argument("--write-config", default=None, metavar="PATH", help="write the target TOML here")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME", help="inject a fault")
    parser.add_argument("--variant", default=None, metavar="NAME", help="serve a conformant variant")
    parser.add_argument("--list", action="store_true", help="list the faults and variants, then exit")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="with --list: as the Markdown page docs/faults-and-variants.md is generated from",
    )
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    defaults = ReferenceSettings()
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout,
        metavar="S",
        help="seconds a request's head and body may take to arrive, however slowly they drip; an idle "
        f"connection is closed after it too (default {defaults.request_timeout:g})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        metavar="N",
        help="connections served at once; more are answered 503 with Retry-After "
        f"(default {defaults.max_connections})",
    )


def settings_from_args(args: argparse.Namespace) -> ReferenceSettings:
    return ReferenceSettings(
        host=args.host,
        port=args.port,
        db_path=args.db,
        public_url=args.public_url,
        trust_proxy=args.trust_proxy,
        bounds_policy=args.bounds_policy,
        clock_control=args.enable_clock_control,
        photo_id=args.photo_id,
        faults=frozenset(args.fault or ()),
        variant=args.variant,
        log_requests=not getattr(args, "quiet", False),
        request_timeout=args.request_timeout,
        max_connections=args.max_connections,
    )


def _writable_file(path: str, option: str) -> str | None:
    """Why ``path`` cannot be a file this command creates or rewrites (None when it can)."""
    target = Path(path)
    if target.is_dir():
        return f"{option} {path}: is a directory; give a file path"
    parent = target.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        return f"{option} {path}: {parent} {why}"
    if target.exists() and not os.access(target, os.W_OK):
        return f"{option} {path}: the file is not writable"
    if not target.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return f"{option} {path}: cannot create a file in {parent}"
    return None


def check_args(args: argparse.Namespace) -> str | None:
    """The first option that cannot work, as one line (checked before anything starts)."""
    if not 0 <= args.port <= 65535:
        return f"--port {args.port}: must be 0 (any free port) to 65535"
    if not 0 < args.request_timeout <= 24 * 3600:  # also refuses nan and inf
        return f"--request-timeout {args.request_timeout:g}: must be more than 0 and at most 86400 seconds"
    if not 1 <= args.max_connections <= 100_000:
        return f"--max-connections {args.max_connections}: must be 1 to 100000"
    if not str(args.photo_id).isascii() or not str(args.photo_id).isdigit():
        return f"--photo-id {args.photo_id!r}: must be a numeric photo id (the API's photo_id is a number)"
    if args.db is not None:
        problem = _writable_file(args.db, "--db")
        if problem:
            return problem
    if args.write_config:
        return _writable_file(args.write_config, "--write-config")
    return None


def main(args: argparse.Namespace) -> int:
    if getattr(args, "list", False):
        if getattr(args, "markdown", False):
            print("\n".join(catalogue_markdown()), end="")
        else:
            print_catalogue()
        return 0
    problem = check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    try:
        server = ReferenceServer(settings_from_args(args)).start()
    except OSError as exc:
        print(f"error: cannot start the reference server: {exc}", file=sys.stderr)
        return 2
    except UnknownBehaviourName as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"error: --db: {exc}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.write_config:
            try:
                write_target_config(server, args.write_config)
            except OSError as exc:
                print(f"error: --write-config {args.write_config}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            print(f"target config written to {args.write_config}", file=sys.stderr)
        for line in startup_notes(args):
            print(line, file=sys.stderr)
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0


def startup_notes(args: argparse.Namespace) -> list[str]:
    """Where a client developer finds what to sign with, and how long it stays valid."""
    if args.write_config:
        where = f"base_url and credentials (read, write, admin) are in {args.write_config}"
    else:
        where = (
            "credentials are not shown: --write-config FILE writes them with base_url into a target config"
        )
    if args.db:
        lasting = f"they are kept in {args.db} across restarts"
    else:
        lasting = "they change on every start (keep them with --db FILE)"
    port = "" if args.port else "; the port changes too (fix it with --port N)"
    return [f"{where}; {lasting}{port}"]


def catalogue_markdown() -> list[str]:
    """docs/faults-and-variants.md: every fault and variant with its one-line description."""
    lines = [
        "# Faults and variants of `conformance serve`",
        "",
        "Generated by `conformance serve --list --markdown > docs/faults-and-variants.md` from",
        "`conformance/reference/faults.toml` and `variants.toml` (a test fails when this page is stale).",
        "",
        "## Faults (`--fault NAME`, repeatable): defects the suite must catch",
        "",
        "| fault | group | profile | what the server does wrong |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.group} | {f.profile} | {_cell(f.description)} |" for f in FAULT_LIST]
    lines += [
        "",
        "## Variants (`--variant NAME`): conformant servers that use the latitude the documents leave",
        "",
        "| variant | profile | how it differs, still conformant |",
        "|---|---|---|",
    ]
    lines += [f"| `{v.name}` | {v.profile} | {_cell(v.description)} |" for v in VARIANT_LIST]
    return [*lines, ""]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def print_catalogue() -> None:
    """The fault and variant tables, one line each (``conformance serve --list``)."""
    print("faults (--fault NAME):")
    for f in FAULT_LIST:
        print(f"  {f.name:<34} {f.group:<14} {f.profile:<5} {f.description}")
    print("variants (--variant NAME):")
    for v in VARIANT_LIST:
        print(f"  {v.name:<34} {v.profile:<5} {v.description}")


if __name__ == "__main__":  # ``python -m conformance.reference.cli`` for tests and debugging
    _parser = argparse.ArgumentParser(prog="conformance serve")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
