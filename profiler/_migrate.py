"""Upgrading an older results database to the current schema, in one transaction.

Each step names the schema it leaves and why; a row a step cannot read is left as it is (the
store lists it as damaged and a sweep measures it again), never turned into a number.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from ortkit.base import OrtkitError
from ortkit.profiler._result import Metrics, derive
from ortkit.profiler._spec import ProfileSpec

__all__ = ["migrate", "SCHEMA_VERSION"]

# 1: first version. 2: ``op_profile`` left out of the configuration's identity and the torch
# version put into a baseline's (keys recomputed: a configuration stored with and without an op
# profile becomes one row); schema-1 peak RSS figures dropped (they could be the parent's).
# 3: throughput and GFLOP/s recomputed from the pooled samples of all processes (schema 2 took
# them from the first process's median while p50 pooled every process's samples).
SCHEMA_VERSION = 3


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a results database of schema ``version`` to `SCHEMA_VERSION`, in one transaction.

    Raises:
        sqlite3.DatabaseError: the file cannot be changed (the caller names the file).
    """
    with conn:
        if version < 2:
            _rekey(conn)
        if version < 3:
            _rederive(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _rekey(conn: sqlite3.Connection) -> None:
    """Schema 1 -> 2: recompute every row's key from its stored spec (``op_profile`` left out, a
    PyTorch baseline tagged with the torch version of the environment it ran in) and drop peak
    RSS figures that may be the parent's (see `_probes.peak_rss_bytes`). Two rows
    that become one configuration keep the one with an op profile, else the newer; damaged rows are
    left as they are."""
    torch_of: dict[str, str] = {}
    for env_key, data in conn.execute("SELECT key, data FROM environments").fetchall():
        try:
            torch_of[env_key] = str(json.loads(data).get("torch") or "absent")
        except (TypeError, ValueError, AttributeError):
            continue
    keep: dict[str, tuple[int, bool]] = {}
    rows = conn.execute("SELECT rowid, env_key, spec, op_profile, metrics FROM results ORDER BY created_at, rowid").fetchall()
    for rowid, env_key, spec_json, op_profile, metrics_json in rows:
        try:
            spec = ProfileSpec.from_dict(json.loads(spec_json))
            metrics = json.loads(metrics_json)
        except (TypeError, ValueError, KeyError, AttributeError, OrtkitError):
            continue
        if isinstance(metrics, dict) and metrics.get("peak_rss_bytes") is not None:
            # Schema-1 workers read ru_maxrss, which Linux carries over from the parent: the figure
            # may be the parent's peak. Unknown is better than wrong.
            metrics["peak_rss_bytes"] = None
            conn.execute("UPDATE results SET metrics = ? WHERE rowid = ?", (json.dumps(metrics), rowid))
        if spec.runner != "ort" and "torch" not in dict(spec.tags) and env_key in torch_of:
            spec = replace(spec, tags=(*spec.tags, ("torch", torch_of[env_key])))
            conn.execute("UPDATE results SET spec = ? WHERE rowid = ?", (json.dumps(spec.to_dict()), rowid))
        key, has_profile = spec.key(str(env_key)), op_profile is not None
        if key in keep:
            other, other_has_profile = keep[key]
            loser = rowid if other_has_profile and not has_profile else other
            conn.execute("DELETE FROM results WHERE rowid = ?", (loser,))
            if loser == rowid:
                continue
        conn.execute("DELETE FROM results WHERE key = ? AND rowid != ?", (key, rowid))
        conn.execute("UPDATE results SET key = ?, spec_hash = ? WHERE rowid = ?", (key, spec.spec_hash, rowid))
        keep[key] = (rowid, has_profile)


def _rederive(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: recompute every ok row's throughput and GFLOP/s from its stored (pooled)
    samples with `derive`, the function new results use. Damaged rows are left as they are."""
    rows = conn.execute("SELECT rowid, spec, metrics, samples_ms FROM results WHERE status = 'ok'").fetchall()
    for rowid, spec_json, metrics_json, samples_json in rows:
        try:
            spec = ProfileSpec.from_dict(json.loads(spec_json))
            metrics = derive(spec, [float(x) for x in json.loads(samples_json)], Metrics.from_dict(json.loads(metrics_json)))
        except (TypeError, ValueError, KeyError, AttributeError, OrtkitError):
            continue
        conn.execute("UPDATE results SET metrics = ?, throughput_samples_s = ? WHERE rowid = ?",
                     (json.dumps(metrics.to_dict()), metrics.throughput_samples_s, rowid))
