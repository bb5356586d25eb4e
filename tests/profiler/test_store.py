from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from ortkit.profiler._environment import collect_environment
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._store import APPLICATION_ID, SCHEMA_VERSION, Metrics, Result, ResultStore, StoreError

ENV = collect_environment(with_gpus=False)


def _spec(**kw: object) -> ProfileSpec:
    base = dict(model="/models/lstm.onnx", model_sha256="ab" * 32, model_label="lstm", batch=1, time=16, threads=1)
    base.update(kw)
    return ProfileSpec(**base)  # type: ignore[arg-type]


def _ok(spec: ProfileSpec, env=ENV, samples=(1.0, 1.1, 0.9, 1.0)) -> Result:
    return Result(spec=spec, environment=env, status="ok", samples_ms=tuple(samples),
                  metrics=Metrics(session_create_ms=12.5, throughput_samples_s=1000.0, node_assignment=(("CPUExecutionProvider", 3),)),
                  budget=Budget(max_time_s=0.5), op_profile={"op_type_share": {"LSTM": 0.9}})


def test_round_trip_keeps_raw_samples_spec_metrics_and_environment(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add(_ok(_spec()))
        store.add(Result(spec=_spec(batch=8), environment=ENV, status="failed", message="worker crashed with SIGSEGV",
                         metrics=Metrics(exit_code=-11, signal="SIGSEGV")))
    with ResultStore(db) as store:
        ok, failed = store.results()
        assert len(store) == 2
    assert ok.spec == _spec() and ok.samples_ms == (1.0, 1.1, 0.9, 1.0)
    assert ok.stats is not None and ok.stats.p50 == pytest.approx(1.0)
    assert ok.metrics.session_create_ms == 12.5 and dict(ok.metrics.node_assignment) == {"CPUExecutionProvider": 3}
    assert ok.environment == ENV and ok.budget.max_time_s == 0.5 and ok.op_profile == {"op_type_share": {"LSTM": 0.9}}
    assert failed.status == "failed" and failed.stats is None and failed.metrics.signal == "SIGSEGV"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("SELECT p50_ms, n_samples FROM results WHERE status='ok'").fetchone() == (1.0, 4)


def test_each_add_is_committed_at_once(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = ResultStore(db)
    store.add(_ok(_spec()))
    # Another connection sees it while the first is still open (nothing waits for close()).
    assert ResultStore(db).results()[0].spec == _spec()
    store.close()


def test_environments_are_kept_apart(tmp_path: Path) -> None:
    other = replace(ENV, cpu_model="Some Other CPU", cpu_cores_logical=64)
    assert other.key != ENV.key
    with ResultStore(tmp_path / "r.db") as store:
        store.add(_ok(_spec(), ENV, samples=(1.0,)))
        store.add(_ok(_spec(), other, samples=(2.0,)))
        assert len(store) == 2
        assert set(store.environments()) == {ENV.key, other.key}
        mine = store.results(environment=ENV.key)
        assert [r.samples_ms for r in mine] == [(1.0,)]
        assert store.done_keys() == {_spec().key(ENV.key), _spec().key(other.key)}


def test_spec_key_depends_on_configuration_and_environment_not_on_path() -> None:
    a = _spec()
    assert a.key(ENV.key) == _spec(model="/elsewhere/lstm.onnx").key(ENV.key)
    assert a.key(ENV.key) != _spec(threads=2).key(ENV.key)
    assert a.key(ENV.key) != _spec(model_sha256="cd" * 32).key(ENV.key)
    assert a.key(ENV.key) != a.key("0" * 16)
    assert ProfileSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert hash(a) == hash(_spec())


def test_export_jsonl_and_csv(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as store:
        store.add(_ok(_spec()))
        store.add(Result(spec=_spec(ep="openvino"), environment=ENV, status="skipped", message="openvino not available"))
        assert store.export(tmp_path / "r.jsonl") == 2
        assert store.export(tmp_path / "r.csv") == 2
        with pytest.raises(StoreError, match="unknown export format"):
            store.export(tmp_path / "r.xml")
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0]["samples_ms"] == [1.0, 1.1, 0.9, 1.0] and lines[0]["environment"]["key"] == ENV.key
    assert lines[0]["stats"]["p50"] == pytest.approx(1.0) and lines[1]["stats"] is None
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert rows[0]["status"] == "ok" and float(rows[0]["p50_ms"]) == pytest.approx(1.0)
    assert rows[1]["status"] == "skipped" and rows[1]["p50_ms"] == ""


def test_failure_is_never_a_number() -> None:
    with pytest.raises(ValueError):
        Result(spec=_spec(), environment=ENV, status="ok")


def test_refuses_a_newer_schema_without_touching_it(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    ResultStore(db).add(_ok(_spec()))
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer ortkit") as info:
        ResultStore(db)
    assert "\n" not in str(info.value)
    assert db.read_bytes() == before


def test_refuses_foreign_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database at all")
    with pytest.raises(StoreError, match="not an SQLite file"):
        ResultStore(text)
    assert text.read_text() == "hello, not a database at all"
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another program's SQLite database"):
        ResultStore(other)
    with pytest.raises(StoreError, match="is a directory"):
        ResultStore(tmp_path)


def test_unwritable_locations(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        ResultStore(tmp_path / "missing" / "r.db")
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere; the read-only checks need an ordinary user")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            ResultStore(locked / "r.db")
    finally:
        locked.chmod(0o700)


def test_read_only_database_reads_but_refuses_to_write(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    ResultStore(db).add(_ok(_spec()))
    store = ResultStore(db, readonly=True)
    assert not store.writable and len(store.results()) == 1
    with pytest.raises(StoreError, match="read-only"):
        store.add(_ok(_spec(batch=2)))
    store.close()
    with pytest.raises(StoreError, match="does not exist"):
        ResultStore(tmp_path / "nope.db", readonly=True)
    if os.geteuid() == 0:
        pytest.skip("root can write read-only files")
    db.chmod(0o400)
    tmp_path.chmod(0o500)
    try:
        store = ResultStore(db)
        assert not store.writable and len(store.results()) == 1
        with pytest.raises(StoreError, match="read-only"):
            store.add(_ok(_spec(batch=2)))
    finally:
        tmp_path.chmod(0o700)
        db.chmod(0o600)
