"""SQLite state of the reference server: photos, tokens, uses, replacements, nonces, clock.

Everything lives in one database file so a restart with the same file loses nothing. Each
operation opens its own short-lived connection (werkzeug serves each request on a new thread);
writes run inside ``BEGIN IMMEDIATE`` so SQLite serialises them, and the database uses WAL so
readers never block.

The file holds every live secret, so a new database is created 0600 (an existing one is
tightened to it). Any SQLite failure (full disk, I/O error, unwritable file) surfaces as
:class:`StorageError`, a server-side fault the application answers as such, never as the
client's mistake. The API clock offset is bounded (:data:`MAX_API_TIME`) so the clock can never
leave the range dates can be formatted in, and a stored offset out of range is ignored.
"""

from __future__ import annotations

import calendar
import json
import os
import secrets
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

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

PHOTO_TOKEN_ALPHABET = string.ascii_letters + string.digits
SEED_TREE_ID = 97531
# The API clock stays below 9998-01-01 (year 9999 minus a year's margin): tokens (valid up to a
# day), the Date header and ISO dates keep formatting, whatever the test hook is asked to do.
MAX_API_TIME = calendar.timegm((9998, 1, 1, 0, 0, 0))


class StorageError(Exception):
    """The database could not be read or written (full disk, I/O error, unwritable file)."""


class ClockOutOfRange(ValueError):
    """A clock move would take the API clock past :data:`MAX_API_TIME`."""


def _create_private(path: str) -> None:
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


def new_photo_token() -> str:
    """A fresh 32-character photo access token (same shape as the documented example)."""
    return "".join(secrets.choice(PHOTO_TOKEN_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class TokenRow:
    """One issued replace token as stored."""

    replace_token: str
    photo_id: str
    return_url: str
    background_return_p: bool
    valid_minutes: int
    max_uploads: int
    issued_at: int
    valid_until: int
    uses: int
    level: str
    consumer_key: str

    def state(self, now: int) -> str:
        """``valid``, ``expired`` or ``consumed`` at API time ``now``."""
        if self.valid_until <= now:
            return "expired"
        if self.uses >= self.max_uploads:
            return "consumed"
        return "valid"


@dataclass(frozen=True)
class Replacement:
    """The outcome of one successful replacement."""

    photo_id: str
    tree_id: int
    token: str
    replacement_id: int


class Store:
    """Thin data access layer; every method is one transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            _create_private(path)
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

    # -- meta / clock -------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    def clock_offset(self) -> int:
        """The persisted API clock offset; a value that is not an integer counts as 0."""
        try:
            return int(self.get_meta("clock_offset", "0") or 0)
        except ValueError:
            return 0

    def check_clock_offset(self, now: float | None = None) -> str | None:
        """Reset a stored offset that is unreadable or out of range; the reason, when it did.

        Run at startup: a database written by an older server (or edited by hand) must never
        make every answer fail.
        """
        raw = self.get_meta("clock_offset", "0") or "0"
        now = time.time() if now is None else now
        try:
            offset = int(raw)
        except ValueError:
            problem = f"stored clock offset {raw[:40]!r} is not an integer"
        else:
            if 0 <= now + offset <= MAX_API_TIME:
                return None
            problem = f"stored clock offset {offset} puts the API clock outside 1970..{_year(MAX_API_TIME)}"
        with self.write() as conn:
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'clock_offset'")
        return f"{problem}; reset to 0"

    def advance_clock(self, seconds: int, now: float | None = None) -> int:
        """Add ``seconds`` to the persisted API clock offset; returns the new offset.

        Raises :class:`ClockOutOfRange` (and changes nothing) when the API clock would pass
        :data:`MAX_API_TIME`.
        """
        now = time.time() if now is None else now
        with self.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
            try:
                current = int(row["value"]) if row else 0
            except ValueError:
                current = 0
            offset = current + seconds
            if now + offset > MAX_API_TIME:
                raise ClockOutOfRange(
                    f"advance_seconds={seconds} would move the API clock past "
                    f"{time.strftime('%Y-%m-%d', time.gmtime(MAX_API_TIME))}; at most "
                    f"{max(0, int(MAX_API_TIME - now - current))} more seconds are allowed"
                )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('clock_offset', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(offset),),
            )
        return offset

    # -- credentials --------------------------------------------------------------------------
    def load_credentials(self) -> dict[str, dict[str, str]]:
        with self.read() as conn:
            rows = conn.execute("SELECT * FROM credentials").fetchall()
        return {row["level"]: dict(row) for row in rows}

    def save_credentials(self, creds: dict[str, dict[str, str]]) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM credentials")
            for level, c in creds.items():
                conn.execute(
                    "INSERT INTO credentials VALUES (?, ?, ?, ?, ?)",
                    (
                        level,
                        c["consumer_key"],
                        c["consumer_secret"],
                        c["access_token"],
                        c["access_token_secret"],
                    ),
                )

    # -- photos -------------------------------------------------------------------------------
    def seed_photo(self, photo_id: str) -> None:
        """Create ``photo_id`` unless it already exists (a restart keeps its history)."""
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO photos (photo_id, tree_id, token) VALUES (?, ?, ?)",
                (photo_id, SEED_TREE_ID, new_photo_token()),
            )

    def photo_exists(self, photo_id: str) -> bool:
        with self.read() as conn:
            return conn.execute("SELECT 1 FROM photos WHERE photo_id = ?", (photo_id,)).fetchone() is not None

    def photo_state(self, photo_id: str) -> dict[str, Any] | None:
        """The photo and its replacement history (file bytes left out) for the test hook."""
        with self.read() as conn:
            photo = conn.execute("SELECT * FROM photos WHERE photo_id = ?", (photo_id,)).fetchone()
            if photo is None:
                return None
            history = conn.execute(
                "SELECT * FROM replacements WHERE photo_id = ? ORDER BY id", (photo_id,)
            ).fetchall()
        result: dict[str, Any] = dict(photo)
        result["replacements"] = []
        for row in history:
            item = {k: row[k] for k in row.keys() if k != "data"}  # noqa: SIM118 - sqlite3.Row
            item["extra_fields"] = json.loads(item["extra_fields"])
            result["replacements"].append(item)
        return result

    # -- tokens -------------------------------------------------------------------------------
    def insert_token(self, row: TokenRow, *, reset_all_uses: bool = False) -> None:
        """Store a new token; the primary key makes a (vanishingly unlikely) duplicate fail loudly.

        ``reset_all_uses`` is only for the ``issue_resets_all_uses`` fault (an UPDATE that lost its WHERE).
        """
        with self.write() as conn:
            conn.execute(
                "INSERT INTO replace_tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.replace_token,
                    row.photo_id,
                    row.return_url,
                    int(row.background_return_p),
                    row.valid_minutes,
                    row.max_uploads,
                    row.issued_at,
                    row.valid_until,
                    row.uses,
                    row.level,
                    row.consumer_key,
                ),
            )
            if reset_all_uses:
                conn.execute("UPDATE replace_tokens SET uses = 0")

    def get_token(self, replace_token: str) -> TokenRow | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT * FROM replace_tokens WHERE replace_token = ?", (replace_token,)
            ).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["background_return_p"] = bool(data["background_return_p"])
        return TokenRow(**data)

    def redeem(
        self,
        replace_token: str,
        now: int,
        *,
        filename: str,
        content_type: str,
        data: bytes,
        sha256: str,
        extra_fields: list[tuple[str, str]],
        accept: Any = None,
        enforce_limit: bool = True,
        enforce_expiry: bool = True,
    ) -> Replacement | None:
        """Consume one use and replace the photo, atomically; ``None`` when no use was left.

        The single conditional ``UPDATE`` is what enforces ``max_uploads`` and expiry under
        concurrency: only a row that still has a use left and is unexpired is updated. ``accept``
        may veto the replacement after the new ids are known (rolls everything back).
        ``enforce_limit``/``enforce_expiry`` = False drop a condition (only for the redeem faults).
        """
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE replace_tokens SET uses = uses + 1 WHERE replace_token = ?"
                + (" AND uses < max_uploads" if enforce_limit else "")
                + (" AND valid_until > ?" if enforce_expiry else ""),
                (replace_token, now) if enforce_expiry else (replace_token,),
            )
            if cur.rowcount != 1:
                return None
            photo_id = conn.execute(
                "SELECT photo_id FROM replace_tokens WHERE replace_token = ?", (replace_token,)
            ).fetchone()["photo_id"]
            photo = conn.execute("SELECT * FROM photos WHERE photo_id = ?", (photo_id,)).fetchone()
            top = conn.execute(
                "SELECT MAX(m) FROM (SELECT MAX(tree_id) AS m FROM photos "
                "UNION ALL SELECT MAX(tree_id) FROM replacements)"
            ).fetchone()[0]
            tree_id = int(top or SEED_TREE_ID) + 1
            token = new_photo_token()
            cur = conn.execute(
                "INSERT INTO replacements (photo_id, replace_token, previous_tree_id, tree_id, token, "
                "filename, content_type, size, sha256, data, extra_fields, replaced_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    photo_id,
                    replace_token,
                    photo["tree_id"],
                    tree_id,
                    token,
                    filename,
                    content_type,
                    len(data),
                    sha256,
                    data,
                    json.dumps(extra_fields, ensure_ascii=False),
                    now,
                ),
            )
            replacement = Replacement(photo_id, tree_id, token, int(cur.lastrowid or 0))
            if accept is not None and not accept(replacement):
                raise ReplacementRefused
            conn.execute(
                "UPDATE photos SET tree_id = ?, token = ?, size = ?, sha256 = ? WHERE photo_id = ?",
                (tree_id, token, len(data), sha256, photo_id),
            )
        return replacement

    def record_callback(self, replacement_id: int, url: str, status: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE replacements SET callback_url = ?, callback_status = ? WHERE id = ?",
                (url, status, replacement_id),
            )

    # -- nonces -------------------------------------------------------------------------------
    def remember_nonce(self, consumer_key: str, access_token: str, timestamp: int, nonce: str) -> bool:
        """Record a nonce; ``False`` if this (key, token, timestamp, nonce) was seen before."""
        now = int(time.time())
        with self.write() as conn:
            conn.execute("DELETE FROM nonces WHERE seen_at < ?", (now - 3600,))
            try:
                conn.execute(
                    "INSERT INTO nonces VALUES (?, ?, ?, ?, ?)",
                    (consumer_key, access_token, timestamp, nonce, now),
                )
            except sqlite3.IntegrityError:
                return False
        return True


def _year(timestamp: int) -> int:
    return time.gmtime(timestamp).tm_year


class ReplacementRefused(Exception):
    """Raised by ``accept`` veto inside :meth:`Store.redeem`; the whole replacement is rolled back."""
