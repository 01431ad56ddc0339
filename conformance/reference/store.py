"""The reference server's state: credentials, photos, replace tokens, replacements and nonces.

Each method is one transaction on the :class:`~conformance.reference.database.Database`; the
conditional ``UPDATE`` in :meth:`Store.redeem` is what keeps ``max_uploads`` and expiry exact
under concurrency.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import time
from dataclasses import dataclass
from typing import Any

from conformance.model.credentials import CREDENTIAL_KEYS

from .database import Database

PHOTO_TOKEN_ALPHABET = string.ascii_letters + string.digits
SEED_TREE_ID = 97531


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


class Store(Database):
    """The tables' operations; every method is one transaction."""

    # -- credentials --------------------------------------------------------------------------
    def load_credentials(self) -> dict[str, dict[str, str]]:
        with self.read() as conn:
            rows = conn.execute("SELECT * FROM credentials").fetchall()
        return {row["level"]: dict(row) for row in rows}

    def save_credentials(self, creds: dict[str, dict[str, str]]) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM credentials")
            for level, c in creds.items():
                # The columns follow the level in CREDENTIAL_KEYS order (see the schema).
                conn.execute(
                    "INSERT INTO credentials VALUES (?, ?, ?, ?, ?)",
                    (level, *(c[key] for key in CREDENTIAL_KEYS)),
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


class ReplacementRefused(Exception):
    """Raised by ``accept`` veto inside :meth:`Store.redeem`; the whole replacement is rolled back."""
