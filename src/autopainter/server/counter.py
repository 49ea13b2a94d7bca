"""The visitor counter of the web page, kept in a SQLite file so it survives restarts.

One row per counter name. Increments are kept in memory and written in one transaction at most every
``flush_s`` seconds (or ``flush_n`` increments), and when the app stops (``flush()``): a flood of
visits costs no disk write each. Each write opens its own connection (calls come from worker threads;
SQLite connections are not shared across threads) and adds to the stored value, so several app
processes may share the file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["Counter"]

log = logging.getLogger("autopainter.server")


class Counter:
    """Named integer counters in a SQLite file, with batched writes."""

    def __init__(self, path: str | Path, flush_s: float = 10.0, flush_n: int = 100):
        self.path = Path(path)
        self.flush_s, self.flush_n = flush_s, flush_n
        self._pending: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
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

    def increment(self, name: str = "visitors") -> None:
        """Add one (written with the next flush)."""
        with self._lock:
            self._pending[name] = self._pending.get(name, 0) + 1
            due = sum(self._pending.values()) >= self.flush_n or time.monotonic() - self._last_flush >= self.flush_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the pending increments now, in one transaction (kept for the next try if that fails)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            db = self._connect()
            try:
                with db:
                    db.executemany("INSERT INTO counters (name, value) VALUES (?, ?) "
                                   "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", pending.items())
            finally:
                db.close()
        except sqlite3.Error:
            with self._lock:
                for k, v in pending.items():
                    self._pending[k] = self._pending.get(k, 0) + v
            raise

    def get(self, name: str = "visitors") -> int:
        """The stored value plus what is still pending."""
        with self._lock:
            pending = self._pending.get(name, 0)
            due = bool(self._pending) and time.monotonic() - self._last_flush >= self.flush_s
        if due:
            try:
                self.flush()
                pending = 0
            except sqlite3.Error:
                log.exception("visitor counter")
        db = self._connect()
        try:
            row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            return (int(row[0]) if row else 0) + pending
        finally:
            db.close()
