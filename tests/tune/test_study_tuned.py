"""Phase 2: the study file's [tune] table, tuned configurations measured next to the default
ones in the same rounds, and the report's "What tuning bought" section (tuned rows kept out of
the other sections, offered to the verdict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.profiler import Budget
from ortkit.report import build_report, load_dataset, scenario_from_dict
from ortkit.study import Grid, ModelFile, PlanFileError, TargetEntry, TunePlan, measure_files, parse_plan
from ortkit.tune import MIN_DROP_ROUNDS, RaceSettings, tune_model

from tests.tune.conftest import seq_model

PLAN = '''
[grid]
batch = [1]
time = [16]
[[task]]
name = "seq-digits"
models = ["tcn"]
'''


def test_the_tune_table_is_parsed_and_checked() -> None:
    assert parse_plan(PLAN).tune is None
    assert parse_plan(PLAN + "[tune]\n").tune == TunePlan()
    assert parse_plan(PLAN + "[tune]\nbudget_s = 60\nmax_metric_drop = 0.02\n").tune == TunePlan(60.0, 0.02)
    assert parse_plan(PLAN + "[tune]\nenabled = false\n").tune is None
    with pytest.raises(PlanFileError, match="tune.budget: unknown key"):
        parse_plan(PLAN + "[tune]\nbudget = 60\n")
    with pytest.raises(PlanFileError, match="tune.budget_s: expected a number >= 1"):
        parse_plan(PLAN + "[tune]\nbudget_s = 0\n")


def test_tuned_configurations_share_rounds_with_the_defaults_and_the_report_shows_the_gain(tmp_path: Path) -> None:
    model = seq_model(tmp_path / "m" / "model.onnx", 256)
    db = tmp_path / "r.db"
    quick = RaceSettings(stage_rounds=(MIN_DROP_ROUNDS,), slice_s=0.01, confirm_rounds=6, confirm_processes=1)
    result = tune_model(model, batches=[2], times=[16, 32], precisions=("fp32",), knobs=False, db=tmp_path / "tune.db",
                        out=tmp_path / "m.tuned.json", race=quick)
    file = ModelFile(model, "seq", "fp32", False, None, (), "cnn", "seq-task")
    budget = Budget(warmup_runs=2, warmup_time_s=0.0, min_runs=3, max_time_s=0.05, rounds=4, max_rounds=4)
    summaries = measure_files([file], [TargetEntry("cpu")], Grid(batch=(2,), time=(16, 32), threads=(2,)), db=db, budget=budget,
                              tuned={str(model): str(result.path)})
    rows = [r for s in summaries for r in s.results]
    tuned = [r for r in rows if dict(r.spec.tags).get("tuned")]
    assert len(rows) == 4 and len(tuned) == 2
    for row in tuned:
        default = next(r for r in rows if r is not row and (r.spec.batch, r.spec.time) == (row.spec.batch, row.spec.time))
        assert set(row.metrics.round_ids) == set(default.metrics.round_ids)  # the same rounds: paired
        assert dict(row.spec.tags)["base"] == "seq" and row.spec.threads == result.profile.choice_for(2, row.spec.time).settings.threads
    scenario = scenario_from_dict({"name": "scoring", "kind": "offline", "task": "seq-task", "length": 32})
    report = build_report(load_dataset(db), figures=False, scenarios=[scenario])
    verdict = report.sections[0]
    (row,) = verdict.tables[0].rows
    headers = verdict.tables[0].headers
    deployed, runner_up = row[headers.index("deploy")], row[headers.index("runner-up")]
    assert {deployed, runner_up} == {"seq", "seq (tuned)"}  # the tuned configuration competes in the verdict
    section = next(s for s in report.sections if s.title == "What tuning bought")
    (table,) = section.tables
    assert len(table.rows) == 2 and all("x [" in row[6] for row in table.rows)
    assert section.findings and "cnn models" in section.findings[0]
    latency = next(s for s in report.sections if s.tables and "Latency" in s.title)
    assert all("(tuned)" not in " ".join(r) for t in latency.tables for r in t.rows)
    # the same call again: the tuned twins come from the database
    again = measure_files([file], [TargetEntry("cpu")], Grid(batch=(2,), time=(16, 32), threads=(2,)), db=db, budget=budget,
                          tuned={str(model): str(result.path)})
    assert sum(s.measured for s in again) == 0 and len([r for s in again for r in s.results]) == 4


def test_the_study_tunes_each_fp32_offline_file_and_skips_the_rest(tmp_path: Path) -> None:
    from dataclasses import replace

    from ortkit.study import QUICK
    from ortkit.study._study import _tune_files

    model = seq_model(tmp_path / "m" / "model.onnx", 64)
    half = seq_model(tmp_path / "m" / "model.fp16.onnx", 64, precision="fp16")
    files = [ModelFile(model, "seq", "fp32", False, None, (), "cnn", "seq-task"),
             ModelFile(half, "seq", "fp16", False, None, (), "cnn", "seq-task"),
             ModelFile(model, "seq", "fp32", True, None, (), "cnn", "seq-task")]
    plan = replace(QUICK, batch=(1,), time=(16,), tune=TunePlan(budget_s=5.0))
    lines: list[str] = []
    profiles = _tune_files(files, plan, tmp_path / "r.db", tmp_path / "tuned", lines.append)
    assert profiles == {str(model): str(tmp_path / "tuned" / "seq.tuned.json")}
    assert any(line.startswith("seq: tuned in") for line in lines)
    rows = load_dataset(tmp_path / "r.db").rows
    assert rows and all(dict(r.spec.tags)["base"] == "seq" and dict(r.spec.tags)["task"] == "seq-task" for r in rows)
