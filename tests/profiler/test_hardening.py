"""Found by running the profiler as a new user would: numbers that were wrong, identities that split
one configuration in two, and files or values that crashed instead of saying what was wrong."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ortkit.base import UsageError
from ortkit.profiler import Budget, ProfileSpec, profile
from ortkit.profiler._environment import collect_environment
from ortkit.profiler._spec import file_sha256
from ortkit.profiler._stats import Stats
from ortkit.profiler._store import SCHEMA_VERSION, Metrics, Result, ResultStore
from ortkit.profiler._sweep import plan, resolve_model, torch_version

ENV = collect_environment(with_gpus=False)


def test_worker_reports_its_own_peak_rss_not_its_parents(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    # Linux carries ru_maxrss over fork+exec: a worker started by a parent holding 400 MiB (the CLI
    # with torch loaded) reported the parent's peak as its own.
    model = build.matmul(tmp_path / "mm.onnx")
    spec = ProfileSpec(model=str(model), model_sha256=file_sha256(model), model_label="mm", batch=1)
    request = {"spec": spec.to_dict(), "budget": Budget(warmup_runs=1, min_runs=3, max_runs=5, max_time_s=0.05).to_dict()}
    script = (
        "import json, sys, numpy as np\n"
        "ballast = np.ones(400 * 2**20 // 8)\n"
        "from ortkit.profiler._isolation import run_isolated\n"
        f"print(json.dumps(run_isolated(json.loads({json.dumps(json.dumps(request))})).metrics.peak_rss_bytes))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    assert 10 * 2**20 < peak < 300 * 2**20


def test_worker_dies_with_the_process_that_started_it() -> None:
    # A sweep killed with SIGKILL must not leave a (possibly hung) worker running on its own.
    child = ("import os, time\nfrom ortkit.profiler._worker import die_with_parent\ndie_with_parent()\n"
             "print(os.getpid(), flush=True)\ntime.sleep(60)\n")
    parent = ("import os, subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-c', {child!r}], env={{**os.environ, 'ORTKIT_WORKER_PARENT': str(os.getpid())}})\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        proc.kill()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_too_few_samples_are_flagged_unstable() -> None:
    # One call slower than the whole time budget gives one sample: its spread is unknown.
    assert Stats.from_samples([560.0]).unstable
    assert Stats.from_samples([1.0, 1.0, 1.0, 1.0]).unstable
    assert not Stats.from_samples([1.0] * 5).unstable


def test_specs_and_budgets_refuse_values_that_are_not_measurable() -> None:
    base = dict(model="m.onnx", model_sha256="0" * 64, model_label="m")
    for bad in (dict(batch=10**20), dict(time=2**40), dict(batch=1.5), dict(batch=True), dict(concurrency="2"), dict(model_label=3)):
        with pytest.raises(UsageError):
            ProfileSpec(**{**base, **bad})  # type: ignore[arg-type]
    for bad_budget in (dict(max_time_s=math.nan), dict(max_time_s=math.inf), dict(concurrency_time_s=0), dict(min_runs=2.5)):
        with pytest.raises(UsageError):
            Budget(**bad_budget)  # type: ignore[arg-type]


def test_op_profile_is_not_part_of_a_configurations_identity(tmp_path: Path, build, fast) -> None:  # type: ignore[no-untyped-def]
    model = build.lstm(tmp_path / "lstm.onnx")
    spec = ProfileSpec(model=str(model), model_sha256="0" * 64, model_label="lstm", time=8)
    assert spec.key("env") == ProfileSpec.from_dict({**spec.to_dict(), "op_profile": True}).key("env")
    db = tmp_path / "r.db"
    plain = profile([model], times=[8], db=db, budget=fast)
    assert plain.measured == 1 and plain.results[0].op_profile is None
    # Asking for the op profile measures again (a stored latency without one does not answer)...
    profiled = profile([model], times=[8], db=db, budget=fast, op_profile=True)
    assert profiled.measured == 1 and profiled.results[0].op_profile["op_type_share"]
    # ...into the same row, which then answers both questions.
    again = profile([model], times=[8], db=db, budget=fast)
    assert again.resumed == 1 and again.results[0].op_profile is not None
    with ResultStore(db) as store:
        assert len(store) == 1


def test_a_torch_baseline_is_keyed_by_the_torch_version(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    # An 'unavailable' recorded where torch was absent must not be reused once torch is there.
    model = build.lstm(tmp_path / "lstm.onnx")
    source = resolve_model(model)
    specs, _ = plan([source], ["cpu"], [1], [8], [None], baseline=["torch"])
    ort_spec, torch_spec = specs
    assert ("torch", torch_version()) in torch_spec.tags and not any(k == "torch" for k, _ in ort_spec.tags)
    absent = ProfileSpec.from_dict({**torch_spec.to_dict(), "tags": [["torch", "absent"]]})
    assert absent.key("env") != torch_spec.key("env")


def test_concurrency_throughput_is_what_all_clients_completed(tmp_path: Path, build, fast) -> None:  # type: ignore[no-untyped-def]
    model = build.matmul(tmp_path / "mm.onnx")
    summary = profile([model], batches=[2], concurrency=[2], db=tmp_path / "r.db", budget=fast)
    metrics = summary.results[0].metrics
    assert metrics.throughput_samples_s == metrics.concurrency_throughput_samples_s
    assert metrics.gflops_s == pytest.approx(metrics.flops * metrics.throughput_samples_s / 2 / 1e9)


def test_empty_grid_axes_are_usage_errors(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    model = build.matmul(tmp_path / "mm.onnx")
    for axes in (dict(eps=[]), dict(batches=[]), dict(threads=[]), dict(concurrency=[])):
        with pytest.raises(UsageError, match="grid would be empty"):
            profile([model], db=tmp_path / "r.db", **axes)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="timeout"):
        profile([model], db=tmp_path / "r.db", timeout=math.nan)


def _result(batch: int, *, op_profile: bool = False, profiled: bool = False) -> Result:
    spec = ProfileSpec(model="/m/lstm.onnx", model_sha256="ab" * 32, model_label="lstm", batch=batch, time=16, op_profile=op_profile)
    return Result(spec=spec, environment=ENV, status="ok", samples_ms=(1.0, 1.1, 0.9, 1.0, 1.0),
                  metrics=Metrics(), op_profile={"op_type_share": {"LSTM": 1.0}} if profiled else None)


def test_damaged_rows_are_left_out_listed_and_measured_again(tmp_path: Path, build, fast) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        for batch in (1, 2, 3, 4, 5):
            store.add(_result(batch))
    conn = sqlite3.connect(db)
    edits = ["spec = '{bad'", "samples_ms = '[\"NaN\"]'", "samples_ms = '[-1.0]'", "status = 'weird'"]
    for batch, edit in zip((1, 2, 3, 4), edits):
        conn.execute(f"UPDATE results SET {edit} WHERE batch = ?", (batch,))
    conn.commit()
    conn.close()
    with ResultStore(db, readonly=True) as store:
        results = store.results()
        assert [r.spec.batch for r in results] == [5]
        assert len(store.damaged) == 4 and all(reason for _, reason in store.damaged)
    # A sweep over a damaged configuration measures it again and replaces the row.
    model = build.lstm(tmp_path / "lstm.onnx")
    first = profile([model], times=[8], db=db, budget=fast)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE results SET metrics = '[1]' WHERE key = ?", (first.results[0].key,))
    conn.commit()
    conn.close()
    again = profile([model], times=[8], db=db, budget=fast)
    assert again.measured == 1 and again.results[0].ok


def _old_key(spec: ProfileSpec, env_key: str) -> str:
    """The result key schema 1 computed (op_profile was part of the identity)."""
    identity = spec.to_dict()
    identity.pop("model")
    spec_hash = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return hashlib.sha256(f"{spec_hash}:{env_key}".encode()).hexdigest()[:24]


def test_schema_1_database_is_rekeyed_and_one_configuration_becomes_one_row(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with ResultStore(db) as store:
        store.add(_result(1))
    # Rewrite the rows as schema 1 stored them: a spec with and one without op_profile were two rows.
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    template = dict(conn.execute("SELECT * FROM results").fetchone())
    conn.execute("DELETE FROM results")
    baseline = _result(3)
    baseline = Result(spec=ProfileSpec.from_dict({**baseline.spec.to_dict(), "runner": "torch-eager"}), environment=ENV, status="ok",
                      samples_ms=baseline.samples_ms)
    for result in (_result(1), _result(1, op_profile=True, profiled=True), _result(2), baseline):
        row = dict(template, key=_old_key(result.spec, ENV.key), spec=json.dumps(result.spec.to_dict()), batch=result.spec.batch,
                   op_profile=json.dumps(result.op_profile) if result.op_profile else None, runner=result.spec.runner,
                   metrics=json.dumps({"peak_rss_bytes": 371 * 2**20, "session_create_ms": 5.0}))
        conn.execute(f"INSERT INTO results ({','.join(row)}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with ResultStore(db) as store:
        results = store.results()
        assert sorted(r.spec.batch for r in results) == [1, 2, 3]
        kept = next(r for r in results if r.spec.batch == 1)
        assert kept.op_profile is not None  # the row that also has the op profile is the one kept
        assert store.get(_result(1).key) is not None and store.get(_result(2).key) is not None
        # a schema-1 baseline gets the torch version of the environment it was measured in
        migrated = next(r for r in results if r.spec.runner == "torch-eager")
        assert dict(migrated.spec.tags)["torch"] == (ENV.torch or "absent")
        assert store.get(migrated.key) is not None
        # schema-1 peak RSS may be the parent's: dropped, the rest of the metrics kept
        assert all(r.metrics.peak_rss_bytes is None and r.metrics.session_create_ms == 5.0 for r in results)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
