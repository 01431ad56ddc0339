"""The embedded reference server (werkzeug WSGI + SQLite) implementing the suite's positions."""

from .server import Credentials, ReferenceServer, ReferenceSettings, write_target_config

__all__ = ["Credentials", "ReferenceServer", "ReferenceSettings", "write_target_config"]
