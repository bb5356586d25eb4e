"""Checking and salvaging a damaged results database (`ortkit db check`, `ortkit db recover`).

`check_store` runs SQLite's own ``integrity_check`` and then reads every result row back, so it
names both kinds of damage: pages that do not hang together (a truncated or overwritten file,
which `ResultStore` refuses at open) and rows that SQLite reads but ortkit cannot (bad UTF-8, bad
JSON: listed as damaged and measured again by the next sweep). `recover_store` never changes the
damaged file: it writes what can be read into a NEW database, through the ``sqlite3`` program's
``.recover`` when it is installed (it reads around broken pages) and otherwise row by row,
skipping what cannot be read.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ortkit.profiler._store import APPLICATION_ID, SQLITE_ERRORS, ResultStore, StoreError

__all__ = ["StoreCheck", "StoreRecovery", "check_store", "recover_store"]

#: the tables a results database holds, in the order they are copied (results point at
#: environments); a claim is coordination between live sweeps and is never worth salvaging
_TABLES = ("meta", "accuracy", "environments", "results")


@dataclass(frozen=True)
class StoreCheck:
    """What `check_store` found. ``problems``: SQLite's integrity messages (empty when the file
    is sound); ``damaged``: (key, reason) of rows SQLite reads but ortkit cannot."""

    path: str
    problems: tuple[str, ...]
    rows: int
    damaged: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.damaged


@dataclass(frozen=True)
class StoreRecovery:
    """What `recover_store` wrote: ``copied`` rows per table, of which ``damaged`` result rows
    are still unreadable (a sweep measures them again); ``method`` is ``"sqlite3 .recover"`` or
    ``"row by row"``."""

    source: str
    out: str
    method: str
    copied: tuple[tuple[str, int], ...]
    results: int
    damaged: int


def _connect_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    # Raw bytes: a row with invalid UTF-8 is copied as it is, never "repaired" into a new value.
    conn.text_factory = bytes
    return conn


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise StoreError(f"results database {path} does not exist")
    with open(path, "rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise StoreError(f"{path} is not an SQLite file: nothing to check or recover")


def check_store(path: str | Path) -> StoreCheck:
    """Check ``path`` with SQLite's ``integrity_check``, then read every result row back.

    Raises:
        StoreError: the file does not exist or is not SQLite at all.
    """
    path = Path(path)
    _check_file(path)
    try:
        conn = _connect_readonly(path)
        try:
            problems = [row[0].decode("utf-8", "replace") if isinstance(row[0], bytes) else str(row[0])
                        for row in conn.execute("PRAGMA integrity_check(20)")]
        finally:
            conn.close()
    except SQLITE_ERRORS as error:
        problems = [str(error)]
    problems = [] if problems == ["ok"] else problems
    if problems:
        return StoreCheck(str(path), tuple(problems), 0, ())
    with ResultStore(path, readonly=True) as store:
        rows = store.results()
        return StoreCheck(str(path), (), len(rows), tuple(store.damaged))


def recover_store(path: str | Path, out: str | Path | None = None, *, use_cli: bool = True) -> StoreRecovery:
    """Copy every readable row of ``path`` into a new results database ``out`` (default: NAME
    ``.recovered.db`` beside it). The damaged file is only read.

    Args:
        use_cli: use the ``sqlite3`` program's ``.recover`` when it is on PATH (False: always
            copy row by row, as when it is not installed).

    Raises:
        StoreError: ``path`` is missing or not SQLite, ``out`` exists, or nothing could be read.
    """
    path = Path(path)
    _check_file(path)
    target = Path(out) if out is not None else path.with_name(f"{path.stem}.recovered.db")
    if target.exists():
        raise StoreError(f"{target} already exists: give another --out (recovery never overwrites a file)")
    sqlite_cli = shutil.which("sqlite3") if use_cli else None
    with tempfile.TemporaryDirectory(prefix="ortkit-recover-") as folder:
        source, method = _readable_copy(path, Path(folder) / "damaged.db"), "row by row"
        if sqlite_cli is not None:
            recovered = Path(folder) / "recovered.db"
            if _cli_recover(sqlite_cli, source, recovered):
                source, method = recovered, "sqlite3 .recover"
        ResultStore(target).close()
        try:
            copied = _copy(source, target)
            if not any(n for _, n in copied):
                raise StoreError(f"nothing could be salvaged from {path}: no row of an ortkit table is readable")
        except StoreError:
            target.unlink(missing_ok=True)
            raise
    with ResultStore(target, readonly=True) as store:
        results = store.results()
        return StoreRecovery(str(path), str(target), method, copied, len(results), len(store.damaged))


def _readable_copy(path: Path, copy: Path) -> Path:
    """A copy of ``path`` that SQLite can open: a truncated file's header still counts the lost
    pages, and SQLite then refuses even its schema; the copy's count is set to the pages there
    are (cut to a whole page), so that what remains can be read."""
    shutil.copyfile(path, copy)
    with open(copy, "r+b") as handle:
        header = handle.read(100)
        if len(header) < 100:
            return copy
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            return copy
        pages = copy.stat().st_size // page_size
        if 0 < pages < int.from_bytes(header[28:32], "big"):
            handle.truncate(pages * page_size)
            handle.seek(28)
            handle.write(pages.to_bytes(4, "big"))
    return copy


def _cli_recover(sqlite_cli: str, path: Path, recovered: Path) -> bool:
    """``sqlite3 DAMAGED .recover | sqlite3 NEW``; False when it produced no usable file."""
    try:
        dump = subprocess.run([sqlite_cli, str(path), ".recover"], capture_output=True, timeout=600)
        if not dump.stdout:
            return False
        subprocess.run([sqlite_cli, str(recovered)], input=dump.stdout, capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return False
    # `.recover` gives up on some files (e.g. a truncated schema page) after writing only pragmas:
    # then the row-by-row copy is tried on the damaged file itself.
    try:
        conn = sqlite3.connect(f"{recovered.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] > 0
        finally:
            conn.close()
    except SQLITE_ERRORS:
        return False


def _copy(source: Path, target: Path) -> tuple[tuple[str, int], ...]:
    """Copy the rows of each ortkit table from ``source`` into ``target`` (which has the current
    schema), column by column by name; returns the counts."""
    try:
        src = _connect_readonly(source)
        version = _pragma(src, "user_version")
    except SQLITE_ERRORS as error:
        raise StoreError(f"nothing can be read from {source}: {error}") from None
    dst = sqlite3.connect(str(target))
    counts = []
    try:
        with dst:
            for table in _TABLES:
                columns = [row[1] for row in dst.execute(f"PRAGMA table_info({table})")]
                counts.append((table, _copy_table(src, dst, table, columns)))
            # An older schema stays marked as such, so that the first writable open upgrades it.
            if version is not None and 0 < version:
                dst.execute(f"PRAGMA user_version = {int(version)}")
            dst.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    finally:
        src.close()
        dst.close()
    return tuple(counts)


def _pragma(conn: sqlite3.Connection, name: str) -> int | None:
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    except (sqlite3.DatabaseError, TypeError, ValueError):
        return None


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str, columns: list[str]) -> int:
    try:
        present = [row[1].decode() if isinstance(row[1], bytes) else row[1] for row in src.execute(f"PRAGMA table_info({table})")]
    except SQLITE_ERRORS:
        return 0
    shared = [c for c in columns if c in present]
    if not shared:
        return 0
    count = 0
    for row in _readable_rows(src, table, shared):
        # Bytes are TEXT that was not valid UTF-8: stored back as TEXT with the same bytes.
        marks = ",".join("CAST(? AS TEXT)" if isinstance(v, bytes) else "?" for v in row)
        try:
            dst.execute(f"INSERT OR REPLACE INTO {table} ({','.join(shared)}) VALUES ({marks})", row)
            count += 1
        except SQLITE_ERRORS:
            continue  # a NOT NULL column lost to the damage: the row cannot be a row
    return count


def _readable_rows(src: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """Every row of ``table`` that can be read, in rowid order: after a read error the scan
    restarts past the last good rowid, skipping ever larger ranges until it reads again."""
    select = f"SELECT rowid, {','.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid"
    last, skip = -(2**63), 0
    while True:
        try:
            cursor = src.execute(select, (last + skip,))
            for row in cursor:
                last, skip = row[0], 0
                yield tuple(row[1:])
            return
        except SQLITE_ERRORS:
            skip = 1 if skip == 0 else skip * 2
            if skip > 2**62 or last + skip >= 2**63 - 1:
                return
