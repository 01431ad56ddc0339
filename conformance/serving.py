"""A socket server on a daemon thread: how the embedded reference and the callback receiver serve.

Both stand at the bottom of their own stacks (the reference shares nothing with the suite but the
spec, the model and this), so the one way to start, address and stop such a server lives here.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Self


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 literal in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class ServerThread:
    """Serve ``server`` on a daemon thread from construction until :meth:`stop`."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where the server listens (its bound address, the real port when 0 was asked for)."""
        host, port = self.server.server_address[:2]  # type: ignore[misc]
        return http_url(str(host), int(port))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class Served:
    """Start, stop and ``with`` for a component that serves on a :class:`ServerThread`.

    A subclass's ``start()`` sets ``self._serving`` and returns ``self``; ``_after_stop()`` drops
    what it kept (the reference deletes its temporary database there).
    """

    _serving: ServerThread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    @property
    def server(self) -> socketserver.BaseServer | None:
        return self._serving.server if self._serving is not None else None

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        self._after_stop()

    def _after_stop(self) -> None:
        """Nothing more to drop by default."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
