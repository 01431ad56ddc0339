"""The reference's API clock: the wall clock plus an offset the test hook moves forward.

The offset is persisted (a restart keeps the time a lifecycle test has reached) and bounded by
:data:`MAX_API_TIME`, so the clock can never leave the range dates can be formatted in; a stored
offset out of range is ignored at startup.
"""

from __future__ import annotations

import calendar
import time

from .database import Database

# The API clock stays below 9998-01-01 (year 9999 minus a year's margin): tokens (valid up to a
# day), the Date header and ISO dates keep formatting, whatever the test hook is asked to do.
MAX_API_TIME = calendar.timegm((9998, 1, 1, 0, 0, 0))


class ClockOutOfRange(ValueError):
    """A clock move would take the API clock past :data:`MAX_API_TIME`."""


class Clock:
    """The API clock, reading and writing its offset in the ``meta`` table of ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def api_now(self) -> int:
        """Wall clock plus the (persisted) test offset, kept where dates format."""
        return min(max(int(time.time()) + self.offset(), 0), MAX_API_TIME)

    def offset(self) -> int:
        """The persisted API clock offset; a value that is not an integer counts as 0."""
        try:
            return int(self.db.get_meta("clock_offset", "0") or 0)
        except ValueError:
            return 0

    def check_offset(self, now: float | None = None) -> str | None:
        """Reset a stored offset that is unreadable or out of range; the reason, when it did.

        Run at startup: a database written by an older server (or edited by hand) must never
        make every answer fail.
        """
        raw = self.db.get_meta("clock_offset", "0") or "0"
        now = time.time() if now is None else now
        try:
            offset = int(raw)
        except ValueError:
            problem = f"stored clock offset {raw[:40]!r} is not an integer"
        else:
            if 0 <= now + offset <= MAX_API_TIME:
                return None
            problem = f"stored clock offset {offset} puts the API clock outside 1970..{_year(MAX_API_TIME)}"
        with self.db.write() as conn:
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'clock_offset'")
        return f"{problem}; reset to 0"

    def advance(self, seconds: int, now: float | None = None) -> int:
        """Add ``seconds`` to the persisted API clock offset; returns the new offset.

        Raises :class:`ClockOutOfRange` (and changes nothing) when the API clock would pass
        :data:`MAX_API_TIME`.
        """
        now = time.time() if now is None else now
        with self.db.write() as conn:
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


def _year(timestamp: int) -> int:
    return time.gmtime(timestamp).tm_year
