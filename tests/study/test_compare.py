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
