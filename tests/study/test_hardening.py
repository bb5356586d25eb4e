"""Sweep files, compare and report against inputs nobody planned for: each is one line and an exit
code, before anything slow happens, and nothing stored is lost or misreported."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.report._compare import compare
from ortkit.study._sweepfile import SweepFileError, load_sweep, parse_sweep, run_sweep


@pytest.mark.parametrize(("data", "message"), [
    ({"models": [{"zoo": "lstm"}], "grid": {"precision": []}}, "grid.precision: expected at least one of fp32"),
    ({"models": [{"zoo": "lstm"}], "grid": {"batch": [10**20]}}, "grid.batch: 100000000000000000000 is too large"),
    ({"models": [{"zoo": "lstm"}], "measure": {"max_time_s": float("nan")}}, "measure.max_time_s: expected a non-negative number"),
    ({"models": [{"zoo": "lstm"}], "measure": {"timeout_s": float("inf")}}, "measure.timeout_s: expected a positive number"),
])
def test_more_errors_name_the_key(data: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(SweepFileError, match=message.replace("[", r"\[")):
        parse_sweep(data, tmp_path / "sweep.toml")


def test_a_bad_target_or_database_fails_before_any_export(tmp_path: Path) -> None:
    # Exporting a zoo model takes seconds to minutes: a typo in the EP name or a foreign database
    # must not be found only after that.
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('[[models]]\nzoo = "lstm"\n[[targets]]\nep = "nonsense"\n')
    result = CliRunner().invoke(cli, ["sweep", str(sweep_file)])
    assert result.exit_code == 2 and "unknown execution provider 'nonsense'" in result.output
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE notes (x)").connection.commit()
    sweep_file.write_text('[[models]]\nzoo = "lstm"\n')
    with pytest.raises(Exception, match="another program's SQLite database"):
        run_sweep(load_sweep(sweep_file), db=foreign)
    assert not (tmp_path / "ortkit-exports").exists()


def test_compare_without_common_configurations_says_what_each_side_has(synth, tmp_path: Path) -> None:
    a = synth.build_db(tmp_path / "a.db", [synth.make_result("tcn", 1, 64)], accuracy=False)
    b = synth.build_db(tmp_path / "b.db", [synth.make_result("tcn", 1, 256)], accuracy=False)
    out = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert out.exit_code == 1 and "no configuration in common" in out.output
    assert "t=64" in out.output and "t=256" in out.output and "Traceback" not in out.output


def test_compare_counts_other_environments_apart_instead_of_calling_them_missing(synth, tmp_path: Path) -> None:
    mixed = synth.build_db(tmp_path / "mixed.db", [synth.make_result("tcn", 1, 64),
                                                    synth.make_result("tcn", 1, 64, environment=synth.other_environment())], accuracy=False)
    single = synth.build_db(tmp_path / "single.db", [synth.make_result("tcn", 1, 64, seed=3)], accuracy=False)
    result = compare(str(mixed), str(single))
    assert len(result.rows) == 1 and result.only_a == [] and result.other_env_a == 1


def test_report_and_compare_leave_out_damaged_rows_and_say_so(synth, tmp_path: Path) -> None:
    db = synth.build_db(tmp_path / "r.db", [synth.make_result("tcn", 1, 64), synth.make_result("lstm", 1, 64)], accuracy=False)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE results SET samples_ms = 'not json' WHERE model_label = 'lstm'")
    conn.commit()
    conn.close()
    out = CliRunner().invoke(cli, ["report", str(db), "--out", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    page = (tmp_path / "rep" / "report.md").read_text()
    assert "1 stored row(s) could not be read back" in page
    compared = CliRunner().invoke(cli, ["compare", str(db), str(db)])
    assert compared.exit_code == 0 and "1 stored row(s) of A could not be read back" in compared.output


def test_report_shows_the_current_baseline_of_each_configuration(synth, tmp_path: Path) -> None:
    # Baselines are keyed by torch version: 'unavailable' while torch was absent, then measured.
    import dataclasses

    from ortkit.report._reportdata import load_dataset

    ort = synth.make_result("lstm", 1, 64)
    ok = synth.make_result("lstm", 1, 64, runner="torch-eager", factor=2.0)
    tagged = lambda result, version: dataclasses.replace(  # noqa: E731
        result, spec=dataclasses.replace(result.spec, tags=(*result.spec.tags, ("torch", version))))
    absent = tagged(synth.make_result("lstm", 1, 64, runner="torch-eager", status="unavailable", message="no torch"), "absent")
    db = synth.build_db(tmp_path / "r.db", [ort, tagged(ok, "2.13.0"), absent], accuracy=False)
    rows = load_dataset(db).rows
    baselines = [r for r in rows if r.spec.runner == "torch-eager"]
    assert len(rows) == 2 and len(baselines) == 1 and baselines[0].ok
