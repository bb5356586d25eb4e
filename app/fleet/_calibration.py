"""Node equivalence: the same short workload on every node, and which nodes of a kind stray.

Two machines sold as the same kind can differ (a throttled CPU, a noisy neighbour, another BIOS
setting). Each node measures one fixed model before its cells, and the numbers are kept beside the
results, in a table of the same SQLite file, so the report can say which nodes to distrust
instead of letting a slow node pass as a model's cost.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

__all__ = ["Calibration", "NodeFlag", "DEFAULT_THRESHOLD", "calibration_model", "flag_nodes", "read_calibrations",
           "record_calibration", "record_measured_by", "read_measured_by"]

#: relative slowdown of a node's calibration median against the fastest node of its kind that is
#: flagged; two runs of one machine differ by a few percent, so 10% is a different machine.
DEFAULT_THRESHOLD = 0.10
_TABLE = "fleet_calibration"
# The store keeps one environment record per environment key, and identical machines share a key;
# which node measured a result is therefore kept here, by result key.
_CELLS = "fleet_cells"
_SIZE = 128
_LAYERS = 4


@dataclass(frozen=True)
class Calibration:
    """One node's calibration: its median (ms) on `calibration_model` with one thread."""

    node_id: str
    kind: str
    hostname: str
    environment_key: str
    p50_ms: float
    samples_ms: tuple[float, ...]
    created_at: str = ""


@dataclass(frozen=True)
class NodeFlag:
    """A node whose calibration median is ``slowdown`` (relative) above the fastest of its kind."""

    calibration: Calibration
    fastest: Calibration
    slowdown: float

    def describe(self) -> str:
        return (f"node {self.calibration.node_id[:12]} ({self.calibration.hostname}) of kind {self.calibration.kind} is "
                f"{self.slowdown:+.0%} slower than node {self.fastest.node_id[:12]} on the calibration workload "
                f"({self.calibration.p50_ms:.4g} ms vs {self.fastest.p50_ms:.4g} ms)")


def calibration_model(path: Path) -> Path:
    """Write the calibration model: a chain of fixed 128x128 MatMul+Tanh layers (deterministic
    weights, no time axis), small enough to take about a second per node and CPU-bound enough to
    show a slower core."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, previous = [], [], "x"
    for layer in range(_LAYERS):
        weight = numpy_helper.from_array((rng.standard_normal((_SIZE, _SIZE)) / _SIZE**0.5).astype("float32"), f"w{layer}")
        inits.append(weight)
        nodes.append(helper.make_node("MatMul", [previous, f"w{layer}"], [f"m{layer}"]))
        out = "y" if layer == _LAYERS - 1 else f"h{layer}"
        nodes.append(helper.make_node("Tanh", [f"m{layer}"], [out]))
        previous = out
    graph = helper.make_graph(nodes, "ortkit-calibration", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", _SIZE])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", _SIZE])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def record_calibration(db: str | Path, calibrations: Sequence[Calibration]) -> None:
    """Add calibrations to ``db`` (a results database the caller has already opened once through
    `ortkit.profiler.ResultStore`, so it exists and is ortkit's)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with sqlite3.connect(str(db), timeout=30) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (node_id TEXT, kind TEXT, hostname TEXT, env_key TEXT, "
                     "p50_ms REAL, samples_ms TEXT, created_at TEXT)")
        conn.executemany(f"INSERT INTO {_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(c.node_id, c.kind, c.hostname, c.environment_key, c.p50_ms, json.dumps(list(c.samples_ms)), now)
                          for c in calibrations])
    conn.close()


def read_calibrations(db: str | Path) -> list[Calibration]:
    """The latest calibration of each node in ``db`` (none when it holds no fleet sweep)."""
    path = Path(db)
    if not path.is_file():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(f"SELECT node_id, kind, hostname, env_key, p50_ms, samples_ms, created_at FROM {_TABLE} "
                            "ORDER BY created_at, rowid").fetchall()
    except sqlite3.DatabaseError:  # no fleet sweep wrote here: no table
        return []
    finally:
        conn.close()
    latest: dict[tuple[str, str], Calibration] = {}
    for node_id, kind, hostname, env_key, p50, samples, created in rows:
        try:
            latest[(node_id, kind)] = Calibration(str(node_id), str(kind), str(hostname), str(env_key), float(p50),
                                                  tuple(float(s) for s in json.loads(samples)), str(created))
        except (TypeError, ValueError):
            continue  # a damaged row is no number
    return sorted(latest.values(), key=lambda c: (c.kind, c.p50_ms))


def flag_nodes(calibrations: Sequence[Calibration], threshold: float = DEFAULT_THRESHOLD) -> list[NodeFlag]:
    """Nodes slower than the fastest node of their kind by more than ``threshold`` (relative)."""
    by_kind: dict[str, list[Calibration]] = {}
    for calibration in calibrations:
        by_kind.setdefault(calibration.kind, []).append(calibration)
    flags = []
    for kind in sorted(by_kind):
        nodes = by_kind[kind]
        fastest = min(nodes, key=lambda c: c.p50_ms)
        for node in nodes:
            slowdown = node.p50_ms / fastest.p50_ms - 1.0
            if slowdown > threshold:
                flags.append(NodeFlag(node, fastest, slowdown))
    return flags


def record_measured_by(db: str | Path, result_key: str, node_id: str, kind: str, hostname: str) -> None:
    """Remember which node measured the result stored under ``result_key`` (replacing an older
    measurement of the same configuration)."""
    with sqlite3.connect(str(db), timeout=30) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_CELLS} (result_key TEXT PRIMARY KEY, node_id TEXT, kind TEXT, hostname TEXT)")
        conn.execute(f"INSERT OR REPLACE INTO {_CELLS} VALUES (?, ?, ?, ?)", (result_key, node_id, kind, hostname))
    conn.close()


def read_measured_by(db: str | Path) -> dict[str, tuple[str, str, str]]:
    """result key -> (node id, node kind, host name) for every result a fleet sweep stored."""
    path = Path(db)
    if not path.is_file():
        return {}
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(f"SELECT result_key, node_id, kind, hostname FROM {_CELLS}").fetchall()
    except sqlite3.DatabaseError:  # no fleet sweep wrote here
        return {}
    finally:
        conn.close()
    return {str(key): (str(node), str(kind), str(host)) for key, node, kind, host in rows}
