"""The records parent and worker exchange, pooling, and the agreement of every view of a result
measured by several processes (the CLI table, the JSON, the store row and the report's data)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from ortkit.cli._console import _ms, _rate
from ortkit.cli._main import cli
from ortkit.profiler import RECORD_SCHEMA, Metrics, PooledRun, ProcessRun, ProfileSpec, WorkerRequest, derive
from ortkit.profiler._spec import Budget
from ortkit.report import load_dataset
from ortkit.runtime import EP_ALIASES, canonical_ep, provider_name, short_ep_name


def _spec(**kw: object) -> ProfileSpec:
    return ProfileSpec(model="m.onnx", model_sha256="0" * 64, model_label="m", **kw)  # type: ignore[arg-type]


def test_request_and_run_round_trip_through_json() -> None:
    request = WorkerRequest(_spec(batch=4, time=16, threads=2), Budget(min_runs=3, processes=2))
    assert WorkerRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    run = ProcessRun(status="ok", samples_ms=(1.0, 2.0, 3.0), warmup_ms=(5.0,), metrics=Metrics(flops=10, active_providers=("CPUExecutionProvider",)),
                     exit_code=0, wall_s=0.5)
    assert ProcessRun.from_dict(json.loads(json.dumps(run.to_dict()))) == run


def test_a_newer_or_damaged_record_is_a_failure_never_a_number() -> None:
    newer = ProcessRun(status="ok", samples_ms=(1.0,)).to_dict() | {"schema": RECORD_SCHEMA + 1}
    assert ProcessRun.from_dict(newer).status == "failed" and "schema" in (ProcessRun.from_dict(newer).error or "")
    with pytest.raises(ValueError, match="schema"):
        WorkerRequest.from_dict(WorkerRequest(_spec()).to_dict() | {"schema": RECORD_SCHEMA + 1})
    for payload, reason in [
        ([1, 2], "not a result record"), ({"status": "ok"}, "without samples"), ({"status": "weird"}, "unknown status"),
        ({"status": "ok", "samples_ms": [1.0, -2.0]}, "negative"), ({"status": "ok", "samples_ms": ["x"]}, "unreadable"),
        ({"status": "ok", "samples_ms": [float("nan")]}, "non-finite"),
    ]:
        run = ProcessRun.from_dict(payload)
        assert run.status == "failed" and reason in (run.error or ""), (payload, run.error)
        assert not run.samples_ms


def test_pooling_derives_every_figure_once_from_the_pooled_samples() -> None:
    spec = _spec(batch=2, time=10)
    runs = [ProcessRun(status="ok", samples_ms=tuple(float(x) for x in samples), metrics=Metrics(flops=1_000_000))
            for samples in ([1, 1, 1], [2, 2, 2], [3, 3, 3, 3])]
    pooled = PooledRun.pool(runs)
    assert pooled.process_p50_ms == (1.0, 2.0, 3.0)
    assert pooled.samples_ms == (1.0,) * 3 + (2.0,) * 3 + (3.0,) * 4
    p50 = float(np.median(pooled.samples_ms))
    metrics = pooled.metrics(spec)
    # Not the first process's median (1 ms, 2000 samples/s): the pooled one.
    assert metrics.throughput_samples_s == pytest.approx(2 * 1e3 / p50) != pytest.approx(2000.0)
    assert metrics.throughput_timesteps_s == pytest.approx(metrics.throughput_samples_s * 10)
    assert metrics.gflops_s == pytest.approx(1e6 * metrics.throughput_samples_s / 2 / 1e9)
    result = pooled.to_result(spec, _environment(), Budget(processes=3))
    assert result.stats.p50 == p50 and result.process_p50_ms == (1.0, 2.0, 3.0)
    assert derive(spec, result.samples_ms, result.metrics) == result.metrics


def test_a_failed_process_stands_for_the_configuration() -> None:
    ok = ProcessRun(status="ok", samples_ms=(1.0, 1.0))
    crashed = ProcessRun.failed("worker crashed with SIGSEGV", exit_code=-11, signal="SIGSEGV", wall_s=0.1)
    result = PooledRun.pool([ok, crashed]).to_result(_spec(), _environment(), Budget())
    assert result.status == "failed" and not result.samples_ms and result.metrics.signal == "SIGSEGV"
    assert result.metrics.throughput_samples_s is None and result.metrics.gflops_s is None


def _environment():  # type: ignore[no-untyped-def]
    from ortkit.profiler import collect_environment

    return collect_environment()


def test_processes_3_table_json_store_and_report_agree(tmp_path: Path, build: SimpleNamespace) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    db = tmp_path / "r.db"
    args = ["profile", str(model), "--batch", "2", "--threads", "1", "--max-time", "0.05", "--processes", "3", "--db", str(db)]
    measured = CliRunner().invoke(cli, [*args, "--json"])
    assert measured.exit_code == 0, measured.output
    (row,) = json.loads(measured.output)["results"]
    p50, rate = row["stats"]["p50"], row["metrics"]["throughput_samples_s"]
    assert len(row["metrics"]["process_p50_ms"]) == 3
    assert rate == pytest.approx(2 * 1e3 / p50)
    assert p50 == pytest.approx(float(np.median(row["samples_ms"])))

    with sqlite3.connect(db) as conn:
        stored_p50, stored_rate = conn.execute("SELECT p50_ms, throughput_samples_s FROM results").fetchone()
    assert (stored_p50, stored_rate) == (p50, rate)

    (report_row,) = load_dataset(db).rows
    assert report_row.stats.p50 == p50 and report_row.throughput == rate

    table = CliRunner().invoke(cli, args)  # resumed from the store: the table of the same result
    assert table.exit_code == 0, table.output
    line = next(text for text in table.output.splitlines() if "mm" in text and "cpu" in text)
    cells = [cell.strip() for cell in re.split(r"[│|]", line) if cell.strip()]
    assert _ms(p50) in cells and _rate(rate) in cells, (cells, _ms(p50), _rate(rate))


def test_one_ep_table_every_spelling_works_everywhere(tmp_path: Path, build: SimpleNamespace) -> None:
    assert provider_name("gpu:1") == "CUDAExecutionProvider" and canonical_ep("GPU:1") == "cuda:1"
    assert canonical_ep("CUDAExecutionProvider") == "CUDAExecutionProvider" and provider_name("auto") is None
    assert all(provider_name(short_ep_name(name)) == name for name in EP_ALIASES.values())
    model = build.matmul(tmp_path / "mm.onnx")
    runner = CliRunner()
    spellings = [*EP_ALIASES, "CPU", "CPUExecutionProvider", "Gpu:0"]
    for spelling in spellings:
        for command in (["run", str(model), "--ep", spelling, "--shape", "batch=1"], ["inspect", str(model), "--ep", spelling]):
            out = runner.invoke(cli, command)
            assert "unknown" not in out.output.lower(), (command, out.output)
            wanted = provider_name(spelling)
            assert out.exit_code == 0 or wanted in out.output, (command, out.output)
    db = tmp_path / "r.db"
    out = runner.invoke(cli, ["profile", str(model), "--ep", ",".join(spellings), "--max-time", "0.05", "--processes", "1",
                              "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)["results"]
    by_ep = {r["spec"]["ep"]: r for r in results}
    # One spelling per EP: "CPU" and "cpu" are one configuration, "gpu" and "cuda" another.
    assert by_ep["cpu"]["status"] == "ok" and "gpu" not in by_ep and by_ep["cuda"]["status"] == "skipped"
    assert by_ep["CPUExecutionProvider"]["status"] == "ok"
    assert all("unknown" not in (r["message"] or "") for r in results)


def test_schema_2_rows_get_throughput_from_their_pooled_samples(tmp_path: Path) -> None:
    """Schema 2 stored the first process's throughput next to the pooled p50; opening the file
    recomputes it from the stored samples, so old rows agree with their own p50 too."""
    from ortkit.profiler import Result, ResultStore

    db = tmp_path / "old.db"
    spec = _spec(batch=2, time=10)
    result = Result(spec=spec, environment=_environment(), status="ok", samples_ms=(1.0, 1.0, 3.0, 3.0, 3.0),
                    metrics=Metrics(throughput_samples_s=2000.0, flops=10**6, process_p50_ms=(1.0, 3.0)))
    with ResultStore(db) as store:
        store.add(result)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 2")
    with ResultStore(db, readonly=True) as store:  # read-only: read as it is
        assert store.results()[0].metrics.throughput_samples_s == 2000.0
    with ResultStore(db) as store:
        (migrated,) = store.results()
        assert migrated.metrics.throughput_samples_s == pytest.approx(2 * 1e3 / 3.0)
        assert migrated.metrics.throughput_timesteps_s == pytest.approx(20 * 1e3 / 3.0)
        assert migrated.metrics.gflops_s == pytest.approx(1e6 * 1e3 / 3.0 / 1e9)
        assert migrated.process_p50_ms == (1.0, 3.0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT throughput_samples_s FROM results").fetchone()[0] == pytest.approx(2 * 1e3 / 3.0)
