"""The results store: one SQLite file, one row per configuration and environment.

Every result is committed the moment it is added, so a killed sweep loses nothing that finished.
The primary key is ``ProfileSpec.key(environment.key)``: the same configuration measured on
another machine or software stack is another row, never merged with this one. The schema is in
docs/profiler.md; ``PRAGMA user_version`` holds its version and ``PRAGMA application_id`` marks
the file as ortkit's.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence

from ortkit.base import OrtkitError
from ortkit.profiler._environment import Environment
from ortkit.profiler._result import DONE_STATUSES, STATUSES, Metrics, Result
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._migrate import SCHEMA_VERSION, migrate

__all__ = ["ResultStore", "Result", "Metrics", "StoreError", "SCHEMA_VERSION", "APPLICATION_ID", "STATUSES", "DONE_STATUSES"]

APPLICATION_ID = 0x6F72746B  # "ortk"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Task accuracy of a model file (keyed by its sha256), measured once and shown beside its latency.
CREATE TABLE IF NOT EXISTS accuracy (model_sha256 TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS environments (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    spec_hash TEXT NOT NULL,
    env_key TEXT NOT NULL REFERENCES environments(key),
    status TEXT NOT NULL,
    message TEXT,
    model_label TEXT NOT NULL,
    model_path TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    runner TEXT NOT NULL,
    ep TEXT NOT NULL,
    batch INTEGER NOT NULL,
    time INTEGER,
    threads INTEGER,
    precision TEXT NOT NULL,
    chunk INTEGER,
    concurrency INTEGER NOT NULL,
    n_samples INTEGER NOT NULL,
    p50_ms REAL,
    mean_ms REAL,
    ci_low_ms REAL,
    ci_high_ms REAL,
    cv REAL,
    unstable INTEGER,
    throughput_samples_s REAL,
    spec TEXT NOT NULL,
    budget TEXT NOT NULL,
    metrics TEXT NOT NULL,
    op_profile TEXT,
    samples_ms TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_env ON results(env_key);
CREATE INDEX IF NOT EXISTS results_model ON results(model_label);
"""


# SQLite's own messages quote names from the file; in a damaged schema those are not UTF-8, and
# Python then raises UnicodeDecodeError instead of a DatabaseError (found by the store fuzzer).
SQLITE_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


class StoreError(OrtkitError):
    """The results database cannot be used as asked (unwritable, foreign, newer schema, damaged)."""


class _Undecodable(str):
    """A TEXT value that is not valid UTF-8, kept (with replacement characters) so that the row
    it is in can be named as damaged instead of failing the whole query."""


def _decode_text(data: bytes) -> str:
    # sqlite3's default decoder raises for the whole fetch on one bad byte: one flipped bit in one
    # row would make every report refuse the database.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(data.decode("utf-8", "replace"))


def recovery_hint(path: str | os.PathLike[str]) -> str:
    """The suggested way out for a damaged database file, for error messages."""
    return f"run `ortkit db check {path}` for details and `ortkit db recover {path}` to salvage its rows into a new file"


def _result_from_row(row: tuple[Any, ...], environments: dict[str, Environment]) -> Result:
    """One ``results`` row as a `Result`; raises (TypeError, ValueError, KeyError...) when the row
    is not what ortkit wrote."""
    for column, value in zip(_ROW_COLUMNS, row):
        if isinstance(value, _Undecodable):
            raise ValueError(f"column {column!r} is not valid UTF-8")
    _key, env_key, status, message, spec, budget, metrics, op_profile, samples, created = row
    if env_key not in environments:
        raise KeyError(f"environment {env_key!r} is missing")
    samples_list = json.loads(samples)
    metrics_dict = json.loads(metrics)
    op = json.loads(op_profile) if op_profile else None
    if not isinstance(samples_list, list) or not isinstance(metrics_dict, dict) or (op is not None and not isinstance(op, dict)):
        raise ValueError("samples, metrics or op_profile of the wrong type")
    if message is not None and not isinstance(message, str):
        raise ValueError("message is not text")
    return Result(
        spec=ProfileSpec.from_dict(json.loads(spec)), environment=environments[env_key], status=status,
        samples_ms=tuple(samples_list), message=message, metrics=Metrics.from_dict(metrics_dict),
        budget=Budget.from_dict(json.loads(budget)), op_profile=op, created_at=str(created),
    )


_ROW_COLUMNS = ("key", "env_key", "status", "message", "spec", "budget", "metrics", "op_profile", "samples_ms", "created_at")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _create(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema in one locked transaction. Two sweeps started at once on a new file would
    otherwise race: one could see the other's tables before its application id and call the file
    another program's."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='results'").fetchone():
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('created_at', ?)", (_now(),))
        conn.commit()
    except SQLITE_ERRORS as error:
        conn.rollback()
        raise StoreError(f"cannot create results database {path}: {error}") from None


def _verify(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose pages do not hang together (truncated, overwritten), at open: reading
    it anyway would resume from the rows that happen to be readable and fail later, mid-sweep.
    ``quick_check`` reads every page once (about as long as reading the file) but skips the index
    cross-checks of ``integrity_check`` (`ortkit db check` runs those)."""
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
    except SQLITE_ERRORS as error:
        problems = [str(error)]
    if problems != ["ok"]:
        conn.close()
        raise StoreError(f"{path} is damaged ({problems[0].splitlines()[0]}); {recovery_hint(path)}")


class ResultStore:
    """A results database.

    ``ResultStore(path)`` creates the file if needed. An existing file must be an ortkit results
    database of this schema version or an older one; anything else is refused with a `StoreError`
    and left untouched. A file that cannot be written opens read-only (reading works, adding
    raises); ``readonly=True`` opens an existing file for reading only (reports use this).

    Raises:
        StoreError: the path cannot be created, is not SQLite, is another program's database, or
            was written by a newer ortkit.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.writable = not readonly
        #: rows the last `results()` call could not read back: (key, reason)
        self.damaged: list[tuple[str, str]] = []
        if readonly and not self.path.is_file():
            raise StoreError(f"results database {self.path} does not exist")
        self._conn = self._open()

    # --- opening ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise StoreError(f"results database {path} is a directory; give a file path such as {path / 'results.db'}")
        if path.exists():
            with open(path, "rb") as handle:
                head = handle.read(16)
            if head and head != b"SQLite format 3\x00":
                raise StoreError(f"{path} is not an ortkit results database (not an SQLite file); choose another --db")
            self.writable = self.writable and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        else:
            parent = path.parent if str(path.parent) else Path(".")
            if not parent.is_dir():
                raise StoreError(f"cannot create results database {path}: folder {parent} does not exist")
            if not os.access(parent, os.W_OK):
                raise StoreError(f"cannot create results database {path}: folder {parent} is not writable")
        try:
            if self.writable:
                conn = sqlite3.connect(str(path), timeout=30)
            else:
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            conn.text_factory = _decode_text
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except SQLITE_ERRORS as error:
            if "malformed" in str(error) or isinstance(error, UnicodeDecodeError):
                raise StoreError(f"{path} is damaged ({error}); {recovery_hint(path)}") from None
            raise StoreError(f"{path} cannot be read as an ortkit results database: {error}") from None
        if application_id != APPLICATION_ID and (application_id != 0 or tables):
            conn.close()
            raise StoreError(f"{path} is another program's SQLite database, not ortkit results; choose another --db")
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{path} was written by a newer ortkit (results schema {version}; this ortkit reads up to {SCHEMA_VERSION}); "
                "upgrade ortkit or use another --db"
            )
        if tables:
            _verify(conn, path)
        if not tables:
            if not self.writable:
                what = "an empty file" if path.stat().st_size == 0 else "an SQLite file without ortkit tables"
                raise StoreError(f"{path} holds no results ({what}): measure into it with `ortkit profile --db {path}` first")
            _create(conn, path)
        elif version < SCHEMA_VERSION and self.writable:
            try:
                migrate(conn, version)
            except SQLITE_ERRORS as error:
                raise StoreError(f"cannot upgrade results database {path} to schema {SCHEMA_VERSION}: {error}") from None
        # An older file opened read-only is read as it is: every version's rows load.
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------
    def add(self, result: Result) -> None:
        """Store (or replace) one result and commit at once."""
        if not self.writable:
            raise StoreError(f"results database {self.path} is read-only; cannot record {result.spec.describe()}")
        spec, stats = result.spec, result.stats
        try:
            with self._conn:
                self._conn.execute(
                    "INSERT OR IGNORE INTO environments VALUES (?, ?, ?)",
                    (result.environment.key, json.dumps(result.environment.to_dict()), _now()),
                )
                self._conn.execute(
                    "INSERT OR REPLACE INTO results VALUES (" + ",".join("?" * 30) + ")",
                    (
                        result.key, spec.spec_hash, result.environment.key, result.status, result.message,
                        spec.model_label, spec.model, spec.model_sha256, spec.runner, spec.ep, spec.batch, spec.time,
                        spec.threads, spec.precision, spec.chunk, spec.concurrency, len(result.samples_ms),
                        stats.p50 if stats else None, stats.mean if stats else None,
                        _finite(stats.ci_low) if stats else None, _finite(stats.ci_high) if stats else None,
                        _finite(stats.cv) if stats else None, int(stats.unstable) if stats else None,
                        result.metrics.throughput_samples_s,
                        json.dumps(spec.to_dict()), json.dumps(result.budget.to_dict()),
                        json.dumps(result.metrics.to_dict()),
                        json.dumps(result.op_profile) if result.op_profile is not None else None,
                        json.dumps(list(result.samples_ms)), result.created_at or _now(),
                    ),
                )
        except SQLITE_ERRORS as error:
            raise StoreError(f"cannot write to results database {self.path}: {error}") from None

    def put_accuracy(self, model_sha256: str, data: dict[str, Any]) -> None:
        """Store (or replace) the task accuracy of one model file and commit at once."""
        if not self.writable:
            raise StoreError(f"results database {self.path} is read-only; cannot record accuracy")
        try:
            with self._conn:
                self._conn.execute(
                    "INSERT OR REPLACE INTO accuracy VALUES (?, ?)", (model_sha256, json.dumps(data))
                )
        except SQLITE_ERRORS as error:
            raise StoreError(f"cannot write to results database {self.path}: {error}") from None

    # --- reading ----------------------------------------------------------------------------
    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except SQLITE_ERRORS as error:
            # A file damaged past its header, or tables of another shape than this schema's.
            raise StoreError(f"cannot read results database {self.path}: {error}") from None

    def accuracies(self) -> dict[str, dict[str, Any]]:
        """Task accuracies by model sha256 (empty when none were recorded; damaged entries are
        left out)."""
        out = {}
        for sha, data in self._query("SELECT model_sha256, data FROM accuracy"):
            if isinstance(sha, _Undecodable) or isinstance(data, _Undecodable):
                continue
            try:
                value = json.loads(data)
            except (TypeError, ValueError):
                continue
            if isinstance(value, dict):
                out[str(sha)] = value
        return out

    def environments(self) -> dict[str, Environment]:
        """Every environment that has results here, by key (a damaged entry is left out, and so
        are the results that point at it: see `damaged`)."""
        out = {}
        for key, data in self._query("SELECT key, data FROM environments ORDER BY first_seen"):
            if isinstance(key, _Undecodable) or isinstance(data, _Undecodable):
                continue
            try:
                out[key] = Environment.from_dict(json.loads(data))
            except (TypeError, ValueError, AttributeError, KeyError):
                continue
        return out

    def done_keys(self, statuses: Sequence[str] = DONE_STATUSES) -> set[str]:
        marks = ",".join("?" * len(statuses))
        return {row[0] for row in self._query(f"SELECT key FROM results WHERE status IN ({marks})", statuses)}

    def get(self, key: str) -> Result | None:
        """The result stored under ``key``, or None when there is none (or it is damaged)."""
        found = self.results(keys=[key])
        return found[0] if found else None

    def results(
        self,
        *,
        environment: str | None = None,
        model: str | None = None,
        ep: str | None = None,
        runner: str | None = None,
        status: str | None = None,
        keys: Iterable[str] | None = None,
    ) -> list[Result]:
        """Stored results, oldest first, optionally filtered.

        A row that cannot be read back as a valid result (edited or damaged file: bad JSON,
        impossible values, an unknown environment) is left out and listed in `damaged` as
        ``(key, reason)``; it is never turned into a number. A sweep measures it again.

        Args:
            environment: an environment key (see `environments()`); results of different
                environments are different rows and should be compared, never pooled.
            model: a model label; ep: an EP spec; runner: ort, torch-eager or torch-compile;
            status: ok, failed, skipped or unavailable.
            keys: only these result keys.
        """
        where, args = [], []
        for column, value in (("env_key", environment), ("model_label", model), ("ep", ep), ("runner", runner), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            if not wanted:
                return []
            where.append(f"key IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        sql = f"SELECT {', '.join(_ROW_COLUMNS)} FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, rowid"
        environments = self.environments()
        out = []
        self.damaged = []
        for row in self._query(sql, args):
            try:
                out.append(_result_from_row(row, environments))
            except (TypeError, ValueError, KeyError, AttributeError, OrtkitError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                self.damaged.append((str(row[0]), f"{type(error).__name__}: {reason}"))
        return out

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    # --- export -----------------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str], fmt: str | None = None, results: Sequence[Result] | None = None) -> int:
        """Write results as JSONL (one full result per line, raw samples and environment
        included) or CSV (one flat row per result, statistics and main metrics). The format comes
        from ``fmt`` or the file suffix. Returns the number of results written."""
        from ortkit.profiler._storeexport import export_results

        return export_results(path, fmt, list(results) if results is not None else self.results())
