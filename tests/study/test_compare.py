"""`ortkit compare`: ratios with intervals from raw samples, regressions flagged with exit 3,
like-for-like environments unless --cross-env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.report._compare import REGRESSION_EXIT_CODE, compare


def _results(synth, factor=None, seed=0, environment=None):
    """A small grid (compare's bootstrap runs per configuration): lstm and tcn, FP32 and INT8,
    two lengths, plus one skipped configuration."""
    factor = factor or {}
    env = {"environment": environment} if environment is not None else {}
    out = []
    for model in ("lstm", "tcn"):
        for time in (64, 256):
            out.append(synth.make_result(model, 1, time, factor=factor.get(model, 1.0), seed=seed, **env))
            out.append(synth.make_result(model, 1, time, precision="int8-dynamic", factor=0.5 * factor.get(model, 1.0), seed=seed, **env))
    out.append(synth.make_result("gru", 1, 64, status="skipped", message="no EP", **env))
    return out


def _db(synth, path: Path, **kwargs) -> Path:
    return synth.build_db(path, _results(synth, **kwargs), accuracy=False)


def test_same_data_twice_has_no_regression(synth, tmp_path: Path) -> None:
    a = _db(synth, tmp_path / "a.db", seed=1)
    b = _db(synth, tmp_path / "b.db", seed=2)
    result = compare(str(a), str(b), threshold=0.05)
    assert result.regressions == []
    assert len(result.rows) == 9
    assert [r.verdict for r in result.rows if r.comparison is None] == ["not-measured"]
    runner = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert runner.exit_code == 0, runner.output
    assert "0 regression(s) beyond 5%" in runner.output


def test_slower_model_is_a_regression_with_exit_3(synth, tmp_path: Path) -> None:
    a = _db(synth, tmp_path / "a.db", seed=1)
    b = _db(synth, tmp_path / "b.db", seed=2, factor={"lstm": 1.3})
    result = compare(str(a), str(b), threshold=0.05)
    regressed = {row.new.spec.model_label for row in result.regressions}
    assert regressed == {"lstm", "lstm-int8-dynamic"}
    for row in result.regressions:
        assert row.comparison is not None
        assert row.comparison.ratio == pytest.approx(1.3, rel=0.03)
        assert row.comparison.low <= row.comparison.ratio <= row.comparison.high
    assert result.rows[0].verdict == "regression"
    out = CliRunner().invoke(cli, ["compare", str(a), str(b), "--json"])
    assert out.exit_code == REGRESSION_EXIT_CODE
    data = json.loads(out.output)
    assert data["regressions"] == len(result.regressions)
    # a larger threshold forgives a 30% slowdown
    assert CliRunner().invoke(cli, ["compare", str(a), str(b), "--threshold", "0.5"]).exit_code == 0
    # the mirror image is an improvement, not a regression
    mirror = compare(str(b), str(a))
    assert mirror.regressions == [] and {r.new.spec.model_label for r in mirror.improvements} == {"lstm", "lstm-int8-dynamic"}


def test_new_failure_is_a_regression(synth, tmp_path: Path) -> None:
    a = synth.build_db(tmp_path / "a.db", [synth.make_result("tcn", 1, 64)], accuracy=False)
    b = synth.build_db(tmp_path / "b.db", [synth.make_result("tcn", 1, 64, status="failed", message="segfault")], accuracy=False)
    result = compare(str(a), str(b))
    assert [r.verdict for r in result.rows] == ["now-failing"]
    assert CliRunner().invoke(cli, ["compare", str(a), str(b)]).exit_code == REGRESSION_EXIT_CODE


def test_different_environments_need_cross_env(synth, tmp_path: Path) -> None:
    a = _db(synth, tmp_path / "a.db")
    b = _db(synth, tmp_path / "b.db", environment=synth.other_environment())
    out = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert out.exit_code == 1
    assert "different environments" in out.output and "--cross-env" in out.output
    assert "Traceback" not in out.output
    crossed = CliRunner().invoke(cli, ["compare", str(a), str(b), "--cross-env"])
    assert crossed.exit_code == 0, crossed.output
    assert "across environments" in crossed.output


def test_environment_selected_inside_one_database(synth, tmp_path: Path) -> None:
    both = _results(synth) + _results(synth, factor={"tcn": 2.0}, environment=synth.other_environment())
    db = synth.build_db(tmp_path / "two.db", both, accuracy=False)
    key_a, key_b = synth.ENVIRONMENT.key, synth.other_environment().key
    result = compare(f"{db}@{key_a[:8]}", f"{db}@{key_b[:8]}", cross_env=True)
    assert {r.new.spec.model_label for r in result.regressions} == {"tcn", "tcn-int8-dynamic"}
    with pytest.raises(Exception, match="several environments"):
        compare(str(db), str(db), cross_env=True)


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["compare", str(tmp_path / "nope.db"), str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "not found" in missing.output and "Traceback" not in missing.output
    foreign = tmp_path / "foreign.db"
    foreign.write_text("not sqlite at all, just text")
    out = CliRunner().invoke(cli, ["compare", str(foreign), str(foreign)])
    assert out.exit_code == 1 and "not an ortkit results database" in out.output


def _with_threads(results, threads: int):  # type: ignore[no-untyped-def]
    import dataclasses

    return [dataclasses.replace(r, spec=dataclasses.replace(r.spec, threads=threads)) for r in results]


def test_across_precision_in_one_database_pairs_each_model_with_its_int8_file(synth, tmp_path: Path) -> None:
    db = _db(synth, tmp_path / "r.db", seed=1)
    result = compare(str(db), str(db), across="precision=fp32:int8-dynamic")
    assert result.across == "precision"
    assert len(result.rows) == 4  # lstm and tcn at two lengths; the skipped gru has no int8 file
    for row in result.rows:
        assert row.base.spec.precision == "fp32" and row.new.spec.precision == "int8-dynamic"
        assert row.base.spec.zoo_name == row.new.spec.zoo_name
        assert row.comparison is not None and row.comparison.ratio == pytest.approx(0.5, rel=0.03)
        assert row.verdict == "improvement" and "[precision fp32 -> int8-dynamic]" in row.label


def test_across_threads_from_two_databases(synth, tmp_path: Path) -> None:
    a = synth.build_db(tmp_path / "a.db", _with_threads(_results(synth, seed=1), 1), accuracy=False)
    b = synth.build_db(tmp_path / "b.db", _with_threads(_results(synth, seed=2, factor={"lstm": 0.6, "tcn": 0.6}), 2), accuracy=False)
    with pytest.raises(Exception, match="no configuration in common"):
        compare(str(a), str(b))  # threads are part of a configuration's identity
    out = CliRunner().invoke(cli, ["compare", str(a), str(b), "--across", "threads", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    ratios = [row["ratio"] for row in data["rows"] if row["ratio"] is not None]
    assert len(ratios) == 8 and all(r == pytest.approx(0.6, rel=0.03) for r in ratios)
    assert data["across"] == "threads" and data["improvements"] == 8


def test_across_ep_pairs_two_environments_without_cross_env(synth, tmp_path: Path) -> None:
    cpu = synth.build_db(tmp_path / "cpu.db", _results(synth, seed=1), accuracy=False)
    other = [synth.make_result(m, 1, t, ep="openvino", factor=1.25, seed=3, environment=synth.other_environment())
             for m in ("lstm", "tcn") for t in (64, 256)]
    ov = synth.build_db(tmp_path / "ov.db", other, accuracy=False)
    result = compare(str(cpu), str(ov), across="ep")
    assert [r.verdict for r in result.rows] == ["regression"] * 4
    assert all(r.base.spec.ep == "cpu" and r.new.spec.ep == "openvino" for r in result.rows)


@pytest.mark.parametrize("across, message", [
    ("colour", "cannot compare across 'colour'"), ("threads=1", "write the two values as threads=A:B"),
    ("threads", "several threads values"), ("threads=3:4", "no results with threads=3"),
])
def test_across_mistakes_are_one_line_errors(synth, tmp_path: Path, across: str, message: str) -> None:
    both = _with_threads(_results(synth, seed=1), 1) + _with_threads(_results(synth, seed=2), 2)
    db = synth.build_db(tmp_path / "r.db", both, accuracy=False)
    out = CliRunner().invoke(cli, ["compare", str(db), str(db), "--across", across])
    assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output, out.output
