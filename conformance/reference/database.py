"""The SQLite database of the reference server: its schema, connections and transactions.

Everything lives in one database file so a restart with the same file loses nothing. Each
operation opens its own short-lived connection (werkzeug serves each request on a new thread);
writes run inside ``BEGIN IMMEDIATE`` so SQLite serialises them, and the database uses WAL so
readers never block.

The file holds every live secret, so a new database is created 0600 (an existing one is
tightened to it). Any SQLite failure (full disk, I/O error, unwritable file) surfaces as
:class:`StorageError`, a server-side fault the application answers as such, never as the
client's mistake.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    level TEXT PRIMARY KEY,
    consumer_key TEXT NOT NULL UNIQUE,
    consumer_secret TEXT NOT NULL,
    access_token TEXT NOT NULL,
    access_token_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS photos (
    photo_id TEXT PRIMARY KEY,
    tree_id INTEGER NOT NULL,
    token TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS replace_tokens (
    replace_token TEXT PRIMARY KEY,
    photo_id TEXT NOT NULL,
    return_url TEXT NOT NULL,
    background_return_p INTEGER NOT NULL,
    valid_minutes INTEGER NOT NULL,
    max_uploads INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    level TEXT NOT NULL,
    consumer_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replacements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id TEXT NOT NULL,
    replace_token TEXT NOT NULL,
    previous_tree_id INTEGER NOT NULL,
    tree_id INTEGER NOT NULL,
    token TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    extra_fields TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    callback_url TEXT NOT NULL DEFAULT '',
    callback_status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS nonces (
    consumer_key TEXT NOT NULL,
    access_token TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (consumer_key, access_token, timestamp, nonce)
);
"""


class StorageError(Exception):
    """The database could not be read or written (full disk, I/O error, unwritable file)."""


def create_private(path: str) -> None:
    """Create ``path`` 0600 if it does not exist yet; tighten an existing file we own to 0600."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory") from None
        if os.path.isfile(path):
            with suppress(OSError):  # not our file: SQLite reports what matters
                os.chmod(path, 0o600)
        return
    os.close(fd)


class Database:
    """Connections and transactions; the tables' own operations live in subclasses and helpers."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            create_private(path)
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc}") from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A serialised write transaction (``BEGIN IMMEDIATE``), rolled back on any exception.

        SQLite failures (disk full, I/O error, read-only file) become :class:`StorageError`.
        """
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StorageError(f"database write failed: {exc}") from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StorageError(f"database write failed: {exc}") from exc
        finally:
            conn.close()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default
