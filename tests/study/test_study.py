"""`ortkit study` end to end on a tiny plan: trains, exports, scores, measures, reports, and a
second run resumes from its cache and database without training or measuring again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_tiny_study_runs_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from ortkit.study._study import QUICK, StudyPlan, TaskPlan, run_study
    from ortkit.report._reportdata import load_dataset
    from ortkit.study._sweepfile import TargetEntry
    from ortkit.report import Scenario, load_ceilings, load_claims, load_scenarios
    from ortkit.study._claims import ClaimsPlan

    plan = StudyPlan(
        name="tiny", tasks=(TaskPlan("seq-digits", ("tcn",), train_seconds=2.0),), batch=(1,), time=(16, 64), threads=(1,),
        precision=("fp32", "int8"), chunk=(4,), baseline_time=(64,),
        budget=(("warmup_runs", 1), ("min_runs", 3), ("max_time_s", 0.05)), op_profile=True,
        scenarios=(Scenario("scoring", "offline", "seq-digits", length=64),),
        claims=ClaimsPlan((("adding", 0.05),), ("tcn",), (8,), (0,), train_seconds=1.0),
    )
    lines: list[str] = []
    first = run_study(tmp_path / "study", plan=plan, targets=[TargetEntry("cpu")], log=lines.append)
    assert any("training tcn on seq-digits" in line for line in lines)
    assert first.report.html.is_file() and first.report.markdown.is_file()
    dataset = load_dataset(first.db)
    labels = sorted({(r.spec.model_label, r.spec.runner, r.spec.time, r.spec.chunk) for r in dataset.rows})
    assert labels == [
        ("tcn-seq-digits", "ort", 16, None), ("tcn-seq-digits", "ort", 64, None), ("tcn-seq-digits", "torch-eager", 64, None),
        ("tcn-seq-digits-int8-dynamic", "ort", 16, None), ("tcn-seq-digits-int8-dynamic", "ort", 64, None),
        ("tcn-seq-digits-streaming", "ort", 4, 4),
    ]
    assert all(r.status == "ok" for r in dataset.rows), [(r.spec.describe(), r.message) for r in dataset.rows if not r.ok]
    assert {a.precision for a in dataset.accuracy.values()} == {"fp32", "int8-dynamic"}
    assert all(0.0 <= a.value <= 1.0 for a in dataset.accuracy.values())
    assert all(r.op_shares for r in dataset.rows if r.spec.runner == "ort" and r.spec.chunk is None)
    page = first.report.html.read_text()
    assert "Accuracy vs latency" in page and "data:image/png;base64," in page
    # the verdict answers the plan's scenario, and `ortkit report` finds it (and the claims, the ceiling) beside the database
    assert page.index("Verdict: what to deploy") < page.index("The classic claims, measured") < page.index("Distance to the machine")
    assert load_scenarios(tmp_path / "study" / "study.toml") == plan.scenarios
    assert len(load_claims(tmp_path / "study" / "claims.json")) == 1
    (ceiling,) = load_ceilings(tmp_path / "study" / "ceiling.json").values()
    assert ceiling.ort_gflops > 0 and ceiling.environment_key == dataset.rows[0].environment_key
    assert "| scoring (offline: seq-digits: T = 64, max sequences/s per core) | cpu | tcn" in first.report.markdown.read_text()

    events = []
    lines.clear()
    second = run_study(tmp_path / "study", plan=plan, targets=[TargetEntry("cpu")], log=lines.append, progress=events.append)
    assert any("reusing trained tcn" in line for line in lines)
    assert any("reusing the export" in line for line in lines)
    assert events and {e.state for e in events} == {"resumed"}
    assert len(load_dataset(second.db).rows) == len(dataset.rows)
    assert QUICK.time and QUICK.tasks[0].models == ("lstm", "gru", "tcn")


def test_a_broken_targets_file_is_reported_and_the_local_eps_still_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ortkit.study._study import discover_targets

    monkeypatch.setenv("ORTKIT_HOME", str(tmp_path))
    (tmp_path / "targets.json").write_text("{not json")
    lines: list[str] = []
    targets = discover_targets(lines.append)
    assert [t.ep for t in targets][:1] == ["cpu"]
    assert len(lines) == 1 and lines[0].startswith("registered targets skipped: ") and "targets.json" in lines[0]
