"""Two sweeps measuring into one results database split the work (claims with leases)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from ortkit.profiler._claims import Claims

ROOT = Path(__file__).resolve().parents[2]


def test_a_claim_is_exclusive_until_released_or_expired(tmp_path: Path) -> None:
    now = [1000.0]
    db = tmp_path / "r.db"
    with Claims(db, lease_s=60, clock=lambda: now[0]) as a, Claims(db, lease_s=60, clock=lambda: now[0]) as b:
        assert a.take("k1") and a.take("k1")  # taking one's own claim again is fine
        assert not b.take("k1") and b.held_elsewhere("k1")
        a.release("k1")
        assert b.take("k1") and not a.take("k1")
        now[0] += 59
        b.renew()  # a heartbeat pushes the expiry forward...
        now[0] += 59
        assert not a.take("k1")
        now[0] += 61  # ...and a claim whose owner stopped beating is taken over
        assert a.take("k1") and b.held_elsewhere("k1") and not a.held_elsewhere("k1")


def test_closing_gives_every_claim_up(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Claims(db) as a:
        assert a.take("k1") and a.take("k2")
    with Claims(db) as b:
        assert b.take("k1") and b.take("k2")


_SWEEP = """
import json, sys
from ortkit.profiler import Budget, profile
summary = profile([sys.argv[1]], batches=[1, 2, 3, 4, 5, 6], times=[4], threads=[1], db=sys.argv[2],
                  budget=Budget(warmup_runs=1, min_runs=3, max_runs=20, max_time_s=0.3, processes=1))
print(json.dumps({"measured": summary.measured, "resumed": summary.resumed,
                  "batches": [r.spec.batch for r in summary.results], "ok": summary.count("ok")}))
"""


def _two_sweeps(script: str, model: Path, db: Path) -> list[dict]:
    """Run ``script`` in two processes at once on one database; each one's printed summary."""
    command = [sys.executable, "-c", script, str(model), str(db)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=db.parent) for _ in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_two_sweeps_on_one_database_split_the_grid(tmp_path: Path, build: SimpleNamespace) -> None:
    outs = _two_sweeps(_SWEEP, build.lstm(tmp_path / "lstm.onnx"), tmp_path / "r.db")
    # Every configuration measured exactly once between them; each reports the whole grid in order.
    assert sum(o["measured"] for o in outs) == 6 and all(o["measured"] > 0 for o in outs)
    assert all(o["measured"] + o["resumed"] == 6 and o["batches"] == [1, 2, 3, 4, 5, 6] and o["ok"] == 6 for o in outs)


_INTERLEAVED = _SWEEP.replace("processes=1))", "processes=1, rounds=2, max_rounds=3), mode=\"interleaved\")")


def test_two_interleaved_sweeps_on_one_database_measure_each_configuration_once(tmp_path: Path, build: SimpleNamespace) -> None:
    # A configuration queued for interleaved rounds stays claimed until its result is stored: the
    # other sweep waits for it (and reads it) instead of queueing it too.
    db = tmp_path / "r.db"
    outs = _two_sweeps(_INTERLEAVED, build.lstm(tmp_path / "lstm.onnx"), db)
    assert sum(o["measured"] for o in outs) == 6, outs
    assert all(o["measured"] + o["resumed"] == 6 and sorted(o["batches"]) == [1, 2, 3, 4, 5, 6] and o["ok"] == 6 for o in outs)
    with Claims(db) as claims:  # nothing is left claimed
        assert all(claims.take(f"k{i}") for i in range(3))
        assert claims._conn.execute("SELECT COUNT(*) FROM claims WHERE owner != ?", (claims.owner,)).fetchone()[0] == 0
