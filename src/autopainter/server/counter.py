"""The visitor counter of the web page, kept in a SQLite file so it survives restarts.

One row per counter name. Each call opens its own connection (calls come from worker threads; SQLite
connections are not shared across threads) and updates in one transaction, so several app processes
may share the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["Counter"]


class Counter:
    """Named integer counters in a SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            try:
                with db:
                    db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            finally:
                db.close()
        except sqlite3.Error as e:  # unwritable folder, a file that is not a database ...
            raise ValueError(f"cannot use {self.path} for the visitor counter ({e}); choose another --data-dir") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def increment(self, name: str = "visitors") -> int:
        """Add one and return the new value."""
        db = self._connect()
        try:
            with db:  # one transaction: the update and the read see the same value
                db.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                           "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
                return int(db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])
        finally:
            db.close()

    def get(self, name: str = "visitors") -> int:
        db = self._connect()
        try:
            row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            return int(row[0]) if row else 0
        finally:
            db.close()
