"""The TOML sweep file: the documented example parses, every mistake is one line naming its key,
and a small real sweep runs, resumes and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.study._sweepfile import SweepFileError, load_sweep, parse_sweep


def test_documented_example_parses(repo_root: Path) -> None:
    sweep = load_sweep(repo_root / "docs" / "examples" / "sweep.toml")
    assert [m.name for m in sweep.models] == ["lstm", "tcn", "gru-wide"]
    assert sweep.models[2].overrides == (("hidden_size", 128),)
    assert [t.ep for t in sweep.targets] == ["cpu"]
    assert sweep.grid.batch == (1, 8) and sweep.grid.time == (16, 64, 256) and sweep.grid.threads == (2,)
    assert sweep.grid.precision == ("fp32", "int8") and sweep.grid.chunk == (1, 16) and sweep.grid.baseline == ("torch",)
    assert sweep.budget["max_time_s"] == 0.5 and sweep.timeout_s == 300


def _parse(data: dict, tmp_path: Path):
    return parse_sweep(data, tmp_path / "sweep.toml")


@pytest.mark.parametrize(("data", "message"), [
    ({}, "sweep.toml: models: expected at least one [[models]] entry"),
    ({"models": [{"zoo": "lstmm"}]}, "sweep.toml: models[0].zoo: unknown zoo model 'lstmm'; did you mean lstm"),
    ({"models": [{"zoo": "lstm", "onnx": "x.onnx"}]}, "models[0]: give exactly one of zoo, checkpoint or onnx"),
    ({"models": [{"onnx": "missing.onnx"}]}, "models[0].onnx: file not found"),
    ({"models": [{"checkpoint": "nowhere"}]}, "models[0].checkpoint: not an ortkit checkpoint folder"),
    ({"models": [{"zoo": "lstm"}, {"zoo": "lstm"}]}, "models: two entries are named 'lstm'"),
    ({"models": [{"zoo": "lstm"}], "grid": {"batch": [0]}}, "grid.batch: expected a list of integers >= 1, got [0]"),
    ({"models": [{"zoo": "lstm"}], "grid": {"time": "long"}}, "grid.time: expected a list of integers >= 1"),
    ({"models": [{"zoo": "lstm"}], "grid": {"threads": [0]}}, "grid.threads: expected integers >= 1 or \"default\""),
    ({"models": [{"zoo": "lstm"}], "grid": {"precision": ["int4"]}}, "grid.precision: unknown precision 'int4'"),
    ({"models": [{"zoo": "lstm"}], "grid": {"batchs": [1]}}, "grid.batchs: unknown key; did you mean 'batch'?"),
    ({"models": [{"zoo": "lstm"}], "grid": {"baseline": ["tf"]}}, "grid.baseline: unknown baseline 'tf'"),
    ({"models": [{"zoo": "lstm"}], "targets": [{"python": "/usr/bin/python3"}]}, "targets[0].ep: missing"),
    ({"models": [{"zoo": "lstm"}], "targets": [{"ep": "cpu", "python": "/no/python"}]}, "targets[0].python: interpreter not found"),
    ({"models": [{"zoo": "lstm"}], "measure": {"max_time_s": "fast"}}, "measure.max_time_s: expected a non-negative number"),
    ({"models": [{"zoo": "lstm"}], "measure": {"min_runs": 10, "max_runs": 5}}, "measure: need 1 <= min_runs <= max_runs"),
    ({"models": [{"zoo": "lstm"}], "version": 99}, "version: this file is sweep format 99"),
])
def test_errors_name_the_key(data: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(SweepFileError) as caught:
        _parse(data, tmp_path)
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text


def test_bad_toml_through_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]\nzoo = 'lstm'\n")
    result = CliRunner().invoke(cli, ["sweep", str(bad)])
    assert result.exit_code == 2
    assert "bad.toml: not valid TOML" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(cli, ["sweep", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "sweep file not found" in missing.output


@pytest.mark.slow
def test_small_real_sweep_runs_resumes_and_reports(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        '[[models]]\nzoo = "tcn"\noverrides = { channels = 8, levels = 2 }\n'
        '[grid]\nbatch = [1]\ntime = [16, 64]\nthreads = [1]\n'
        '[measure]\nmax_time_s = 0.05\nmin_runs = 3\nwarmup_runs = 1\ntimeout_s = 120\n'
    )
    db, out = tmp_path / "r.db", tmp_path / "report"
    first = CliRunner().invoke(cli, ["sweep", str(sweep), "--db", str(db), "--report", str(out)])
    assert first.exit_code == 0, first.output
    assert "2 ok" in first.output
    assert (out / "report.html").is_file() and (out / "figures" / "latency-cpu.png").is_file()
    from ortkit.profiler import ResultStore

    with ResultStore(db, readonly=True) as store:
        results = store.results()
    assert [dict(r.spec.tags)["base"] for r in results] == ["tcn", "tcn"]
    assert {dict(r.spec.tags)["family"] for r in results} == {"cnn"}
    # run again: everything is found in the database, nothing is measured twice
    from ortkit.study._sweepfile import run_sweep

    events = []
    run_sweep(load_sweep(sweep), db=db, progress=events.append)
    assert {e.state for e in events} == {"resumed"} and len(events) == 2


@pytest.mark.slow
def test_a_variant_that_fails_verification_is_listed_and_the_sweep_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from ortkit.exporter._verify import TOLERANCES, Tolerance
    from ortkit.report._report import build_report
    from ortkit.report._reportdata import load_dataset

    # No quantised model matches float to 1e-9: the int8 variant is bound to fail verification.
    monkeypatch.setitem(TOLERANCES, "int8-dynamic", Tolerance(1e-9, 0.0))
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        '[[models]]\nzoo = "lstm"\noverrides = { hidden_size = 8, num_layers = 1 }\n'
        '[grid]\nbatch = [1]\ntime = [16]\nthreads = [1]\nprecision = ["fp32", "int8"]\n'
        '[measure]\nmax_time_s = 0.05\nmin_runs = 3\nwarmup_runs = 1\ntimeout_s = 120\n'
    )
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", str(sweep), "--db", str(db)])
    assert "Traceback" not in result.output
    assert result.exit_code == 4 and "1 ok, 1 failed" in result.output, result.output
    rows = load_dataset(db).rows
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status == "failed"]
    assert [r.spec.model_label for r in ok] == ["lstm"]
    assert [r.spec.model_label for r in failed] == ["lstm-int8-dynamic"]
    assert "int8-dynamic variant failed verification" in (failed[0].message or "")
    problems = next(s for s in build_report(load_dataset(db), figures=False).sections if s.title.startswith("Unstable, skipped"))
    assert any("lstm-int8-dynamic" in row[0] for table in problems.tables for row in table.rows)


def test_precisions_a_sweep_cannot_make_for_an_onnx_file_are_listed_as_skipped(tmp_path: Path) -> None:
    from ortkit.report._reportdata import load_dataset
    from tests.profiler.conftest import lstm_model

    model = lstm_model(tmp_path / "m.onnx")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[[models]]\nonnx = "{model}"\nname = "mine"\n'
        '[grid]\nbatch = [1]\ntime = [8]\nthreads = [1]\nprecision = ["fp32", "int8", "fp16"]\n'
        '[measure]\nmax_time_s = 0.05\nmin_runs = 3\nwarmup_runs = 1\ntimeout_s = 120\n'
    )
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", str(sweep), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"ok": 1, "failed": 0, "skipped": 2, "unavailable": 0}
    skipped = sorted((r for r in load_dataset(db).rows if r.status == "skipped"), key=lambda r: r.spec.precision)
    assert [r.spec.precision for r in skipped] == ["fp16", "int8-dynamic"]
    assert "makes no int8-dynamic variant of it" in (skipped[1].message or "")


def test_an_onnx_entry_may_be_an_export_folder(tmp_path: Path) -> None:
    from tests.profiler.conftest import lstm_model

    (tmp_path / "out" / "mine").mkdir(parents=True)
    lstm_model(tmp_path / "out" / "mine" / "model.onnx")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[[models]]\nonnx = "out/mine"\n[grid]\nbatch = [1]\ntime = [8]\n')
    entry = load_sweep(sweep).models[0]
    assert (entry.value, entry.name) == (str(tmp_path / "out" / "mine" / "model.onnx"), "mine")
