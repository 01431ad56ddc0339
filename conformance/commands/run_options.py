"""The checks of ``conformance run``'s command line and config, all before the first request."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.commands.common import UsageError, check_report_dir
from conformance.commands.selection import check_requirements, check_selection
from conformance.config import TargetConfig, check_ca_bundle, check_callback_listen, load_config
from conformance.suite.options import check_limit_overrides, destructive_refusal
from conformance.transport.network import NetworkOptions
from conformance.transport.receiver import LISTEN_ENV


def check_arguments(args: argparse.Namespace) -> TargetConfig | None:
    """Everything the user gave, checked before any request (UsageError, ConfigError): the config.

    None when no ``--config`` was given (the run certifies the embedded reference). Sets
    ``args.requirement_ids`` and ``args.network`` for the run.
    """
    if args.max_examples is not None and args.max_examples < 1:
        raise UsageError(f"--max-examples: must be at least 1, got {args.max_examples}")
    check_limit_overrides(vars(args))
    if args.ca_bundle is not None:
        check_ca_bundle(args.ca_bundle, "--ca-bundle")
    config = load_config(args.config) if args.config else None
    listen = os.environ.get(LISTEN_ENV, "").strip()
    if listen:
        check_callback_listen(listen, LISTEN_ENV)
    refusal = destructive_refusal(args.profile, config)
    if refusal:
        raise UsageError(refusal)
    check_report_dir(Path(args.report_dir))
    if args.keyword:
        check_selection(args.keyword, args.profile)
    args.requirement_ids = check_requirements(args.requirement, args.profile)
    args.network = network_options(args)
    return config


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def network_options(args: Any) -> NetworkOptions:
    """``--proxy`` / ``--no-proxy`` / ``--header``, checked before any request (UsageError)."""
    proxy = args.proxy
    if proxy is not None:
        parts = urlsplit(proxy)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise UsageError(
                f"--proxy {_redact_userinfo(proxy)!r}: not a proxy URL such as http://proxy:3128"
            )
    headers: list[tuple[str, str]] = []
    for raw in args.header:
        name, sep, value = raw.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or not value:
            raise UsageError("--header: expected 'Name: value' (a header name, a colon, a value)")
        if any(ch in value for ch in "\r\n\0"):
            raise UsageError(f"--header {name}: the value holds a line break")
        if name.lower() in ("authorization", "host", "content-type", "content-length"):
            raise UsageError(f"--header {name}: the suite sets this header itself")
        headers.append((name, value))
    return NetworkOptions(proxy=proxy, no_proxy=args.no_proxy, headers=tuple(headers))


def _redact_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":[redacted]@", 1)
    return url


def proxy_display(proxies: dict[str, str]) -> str:
    return ", ".join(sorted({_redact_userinfo(u) for u in proxies.values()}))
