"""Claims: two sweeps measuring into one results database split the work.

Before measuring a configuration a sweep claims its key in the ``claims`` table of the database:
a row (key, owner, expires) written in one SQLite transaction, so only one process can hold it.
While the configuration is measured a heartbeat thread pushes ``expires`` forward; a sweep that
was killed stops beating and its claims expire after `LEASE_S`, after which another sweep takes
them. A sweep that finds a configuration claimed measures the next one and comes back to it at
the end, to read the other sweep's result (or to take the claim over once it has expired).

The table is coordination, not data: it is created when missing (no schema version change),
ignored by readers, and never salvaged by `ortkit db recover`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Callable

__all__ = ["Claims", "LEASE_S"]

#: seconds a claim lives without a heartbeat; the heartbeat renews it every third of that
LEASE_S = 60.0

_TABLE = "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)"


class Claims:
    """This process's claims in the database at ``path`` (its own connection, so the heartbeat
    thread never shares one with the sweep).

    Args:
        lease_s: seconds a claim lives without a heartbeat.
        clock: wall-clock seconds (injectable for tests); claims are compared across processes,
            so it is the epoch clock, not a monotonic one.
    """

    def __init__(self, path: str | os.PathLike[str], *, lease_s: float = LEASE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.lease_s = lease_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        with self._conn:
            self._conn.execute(_TABLE)
        self._beat = threading.Thread(target=self._heartbeat, name="ortkit-claims", daemon=True)
        self._beat.start()

    def take(self, key: str) -> bool:
        """Claim ``key``; False when another live process holds it. An expired claim (its owner
        stopped beating) is taken over."""
        now = self._clock()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, "
                "expires = excluded.expires WHERE claims.expires < ? OR claims.owner = excluded.owner",
                (key, self.owner, now + self.lease_s, now),
            )
            row = self._conn.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
            mine = row is not None and row[0] == self.owner
            if mine:
                self._held.add(key)
            return mine

    def release(self, key: str) -> None:
        """Give ``key`` up (its result is stored, or it will not be measured)."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))
            self._held.discard(key)

    def held_elsewhere(self, key: str) -> bool:
        """Whether another process holds a live claim on ``key``."""
        with self._lock:
            row = self._conn.execute("SELECT owner, expires FROM claims WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] != self.owner and row[1] >= self._clock()

    def renew(self) -> None:
        """Push every held claim's expiry forward (the heartbeat does it every lease/3)."""
        with self._lock:
            if not self._held:
                return
            marks = ",".join("?" * len(self._held))
            with self._conn:
                self._conn.execute(f"UPDATE claims SET expires = ? WHERE owner = ? AND key IN ({marks})",
                                   (self._clock() + self.lease_s, self.owner, *self._held))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except sqlite3.DatabaseError:
                # A busy or vanished database: the next beat tries again; at worst the claim
                # expires and another sweep measures the configuration too (never a wrong number).
                continue

    def close(self) -> None:
        self._stop.set()
        self._beat.join()
        try:
            with self._lock, self._conn:
                self._conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
        except sqlite3.DatabaseError:
            pass
        self._conn.close()

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

