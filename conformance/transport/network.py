"""How requests reach the target (proxies, gateway headers) and which hosts are this machine.

A loopback target (the embedded reference) is never reached through a proxy, and a loopback
target can call back a receiver bound to loopback; both decisions use :func:`is_loopback`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

_LOOPBACK_NAMES = ("localhost", "localhost.", "localhost.localdomain")


@dataclass(frozen=True)
class NetworkOptions:
    """How requests reach the target: a proxy (or none) and headers an API gateway may need.

    ``proxy`` None means the environment's HTTP(S)_PROXY / NO_PROXY, as every requests-based tool
    does; ``no_proxy`` ignores both. ``headers`` go on every request and count as secrets: their
    values are redacted from everything recorded.
    """

    proxy: str | None = None
    no_proxy: bool = False
    headers: tuple[tuple[str, str], ...] = ()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, or a bracketed IPv6 address) means this machine.

    ``localhost`` and every ``*.localhost`` name are loopback by RFC 6761.
    """
    name = host.lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxies_for(base_url: str, network: NetworkOptions) -> dict[str, str]:
    """The proxies requests should use for the target: none for loopback (the embedded reference)."""
    host = urlsplit(base_url).hostname or ""
    if network.no_proxy or is_loopback(host):
        return {}
    if network.proxy:
        return {"http": network.proxy, "https": network.proxy}
    return dict(requests.utils.get_environ_proxies(base_url))  # honours NO_PROXY
