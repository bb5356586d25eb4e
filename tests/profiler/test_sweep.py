"""The sweep: grid, resume, force, environments kept apart, bad input caught before measuring."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from ortkit.base import UsageError
from ortkit.profiler import Budget, ResultStore, profile
from ortkit.profiler._shapes import ShapeError
from ortkit.profiler._store import Result


def test_grid_is_measured_stored_and_resumed(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    lstm = build.lstm(tmp_path / "lstm.onnx")
    mm = build.matmul(tmp_path / "mm.onnx")
    db = tmp_path / "r.db"
    events: list[str] = []
    summary = profile([lstm, mm], ["cpu"], [1, 2], [4], [1], db=db, budget=fast, progress=lambda e: events.append(e.state))
    # lstm: 2 batches x 1 time; mm has no time axis: 2 batches.
    assert [r.status for r in summary.results] == ["ok"] * 4 and summary.measured == 4
    assert events.count("start") == 4 and events.count("done") == 4
    assert [(r.spec.model_label, r.spec.batch, r.spec.time) for r in summary.results] == [
        ("lstm", 1, 4), ("lstm", 2, 4), ("mm", 1, None), ("mm", 2, None)]
    assert any("no time axis" in note for note in summary.notes)
    stored = ResultStore(db).results()
    assert len(stored) == 4 and all(r.stats is not None and r.stats.n >= fast.min_runs for r in stored)

    again = profile([lstm, mm], ["cpu"], [1, 2], [4], [1], db=db, budget=fast)
    assert again.measured == 0 and again.resumed == 4
    assert [r.samples_ms for r in again.results] == [r.samples_ms for r in summary.results]

    forced = profile([mm], ["cpu"], [1], [None], [1], db=db, budget=fast, force=True)
    assert forced.measured == 1 and len(ResultStore(db)) == 4


def test_sweep_goes_on_past_crashes_hangs_and_exceptions(tmp_path: Path, fast: Budget, build: SimpleNamespace, misbehaving_python: str) -> None:
    models = [build.matmul(tmp_path / "crashme.onnx"), build.matmul(tmp_path / "hangme.onnx"),
              build.failing(tmp_path / "bad.onnx"), build.matmul(tmp_path / "good.onnx")]
    db = tmp_path / "r.db"
    summary = profile(models, ["cpu"], [2], [None], [1], db=db, budget=fast, python=misbehaving_python, timeout=3)
    by_label = {r.spec.model_label: r for r in summary.results}
    assert by_label["crashme"].status == "failed" and by_label["crashme"].metrics.signal == "SIGSEGV"
    assert by_label["hangme"].status == "failed" and "hung" in (by_label["hangme"].message or "")
    assert by_label["bad"].status == "failed" and "RunFailed" in (by_label["bad"].message or "")
    assert by_label["good"].status == "ok"
    assert len(ResultStore(db)) == 4
    # A resumed sweep retries the failures and keeps the finished one.
    again = profile(models[2:], ["cpu"], [2], [None], [1], db=db, budget=fast, python=misbehaving_python, timeout=3)
    assert again.resumed == 1 and again.measured == 1


def test_unavailable_ep_is_recorded_as_skipped_and_unknown_ep_lists_available(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    mm = build.matmul(tmp_path / "mm.onnx")
    summary = profile([mm], ["openvino"], [1], [None], [1], db=tmp_path / "r.db", budget=fast)
    (result,) = summary.results
    assert result.status == "skipped" and result.stats is None
    assert "not available" in (result.message or "") and "cpu" in (result.message or "")
    with pytest.raises(UsageError, match=r"unknown execution provider 'warpdrive'; available here: cpu"):
        profile([mm], ["warpdrive"], [1], db=tmp_path / "r2.db", budget=fast)


def test_shapes_the_model_cannot_take_fail_before_measuring(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    fixed = build.matmul(tmp_path / "fixed.onnx", batch=1)
    db = tmp_path / "r.db"
    with pytest.raises(ShapeError, match=r"fixed batch size of 1 .*cannot take batch=8"):
        profile([fixed], ["cpu"], [1, 8], db=db, budget=fast)
    assert len(ResultStore(db)) == 0
    lstm = build.lstm(tmp_path / "lstm.onnx")
    with pytest.raises(UsageError, match="has a time axis"):
        profile([lstm], ["cpu"], [1], db=db, budget=fast)
    with pytest.raises(UsageError, match="model file not found"):
        profile([tmp_path / "missing.onnx"], ["cpu"], [1], db=db, budget=fast)


def test_results_of_other_environments_are_kept_apart(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    mm = build.matmul(tmp_path / "mm.onnx")
    db = tmp_path / "r.db"
    first = profile([mm], ["cpu"], [1], db=db, budget=fast)
    mine = first.results[0]
    other_env = replace(mine.environment, cpu_model="Another CPU", onnxruntime="0.0.1")
    with ResultStore(db) as store:
        store.add(Result(spec=mine.spec, environment=other_env, status="ok", samples_ms=(99.0,)))
    again = profile([mm], ["cpu"], [1], db=db, budget=fast)
    assert again.resumed == 1 and again.results[0].samples_ms == mine.samples_ms
    assert again.other_environments == [other_env.key]
    assert len(ResultStore(db).results(environment=mine.environment.key)) == 1


def test_several_worker_processes_pool_their_samples(tmp_path: Path, fast: Budget, build: SimpleNamespace, misbehaving_python: str) -> None:
    mm = build.matmul(tmp_path / "mm.onnx")
    summary = profile([mm], ["cpu"], [1], [None], [1], db=tmp_path / "r.db", budget=replace(fast, processes=3))
    (result,) = summary.results
    assert result.status == "ok" and len(result.metrics.process_p50_ms) == 3
    assert result.budget.processes == 3
    # every process contributes at least min_runs samples to the pool the statistics come from
    assert result.stats.n == len(result.samples_ms) >= 3 * fast.min_runs
    # a crashing worker is never pooled away: the configuration is recorded as failed
    crashme = build.matmul(tmp_path / "crashme.onnx")
    crashing = profile([crashme], ["cpu"], [1], [None], [1], db=tmp_path / "c.db", budget=replace(fast, processes=3),
                       python=misbehaving_python)
    (failed,) = crashing.results
    assert failed.status == "failed" and failed.metrics.signal and not failed.samples_ms


def test_processes_must_be_sane() -> None:
    with pytest.raises(UsageError, match="processes must be between 1 and 100"):
        Budget(processes=0)
