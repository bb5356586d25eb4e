"""`tune_model` and `ortkit tune` end to end on a real model: the profile file (loadable, for
this model and machine, the winning variant copied next to it), resuming from the store, and
one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.base import UsageError, file_sha256
from ortkit.cli import cli
from ortkit.profiler import ResultStore
from ortkit.runtime import load_tuned_profile
from ortkit.tune import MIN_DROP_ROUNDS, RaceSettings, tune_model

from tests.tune.conftest import export_folder, seq_model

QUICK = RaceSettings(stage_rounds=(MIN_DROP_ROUNDS,), slice_s=0.01, confirm_rounds=6, confirm_processes=1)


def test_tune_writes_a_profile_per_shape_group_and_a_rerun_resumes_from_the_store(tmp_path: Path) -> None:
    model = export_folder(tmp_path / "exp", {"fp16": None, "int8-dynamic": None}, shift=5.0)
    out, db = tmp_path / "p" / "seq.tuned.json", tmp_path / "r.db"
    lines: list[str] = []
    result = tune_model(model, batches=[1], times=[8, 512], precisions=("fp32", "fp16", "int8-dynamic"), knobs=False, db=db,
                        out=out, race=QUICK, log=lines.append)
    # the variants' outputs are far from fp32's (shift 5): the accuracy constraint keeps them out
    assert [c.allowed for c in result.precisions] == [False, False] and any("left out" in line for line in lines)
    assert len(result.outcomes) == 2 and [o.group.shapes for o in result.outcomes] == [((1, 8),), ((1, 512),)]
    assert all(o.choice.precision == "fp32" for o in result.outcomes)
    profile = load_tuned_profile(out)
    assert profile == result.profile and profile.model_sha256 == file_sha256(model)
    profile.check(file_sha256(model))
    assert profile.choice_for(1, 8).shapes == ((1, 8),) and profile.choice_for(1, 1000).shapes == ((1, 512),)
    for outcome, choice in zip(result.outcomes, profile.choices):
        assert choice.settings == outcome.choice.settings
        assert (choice.gain is not None) == outcome.confident
    rows = ResultStore(db, readonly=True).results()
    assert rows and all(dict(r.spec.tags).get("tune") for r in rows)
    again = tune_model(model, batches=[1], times=[8, 512], precisions=("fp32", "fp16", "int8-dynamic"), knobs=False, db=db,
                       out=out, race=QUICK)
    assert sum(o.measured for o in again.outcomes) == 0 and sum(o.reused for o in again.outcomes) == len(rows)
    assert [c.settings for c in again.profile.choices] == [c.settings for c in profile.choices]


def test_a_winning_variant_is_copied_next_to_the_profile(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    model = seq_model(folder / "model.onnx", 2048)
    # A much cheaper file stands for a faster variant; its recorded task metric is what lets it race.
    seq_model(folder / "model.fp16.onnx", 8, precision="fp16")
    (folder / "export.json").write_text(json.dumps({"file": "model.onnx", "variants": [
        {"kind": "fp16", "file": "model.fp16.onnx", "metric": {"name": "accuracy", "fp32": 0.9, "variant": 0.9}}]}))
    out = tmp_path / "p" / "m.tuned.json"
    result = tune_model(model, batches=[4], times=[64], precisions=("fp32", "fp16"), knobs=False, db=tmp_path / "r.db", out=out, race=QUICK)
    (outcome,) = result.outcomes
    assert outcome.choice.precision == "fp16" and outcome.confident
    (choice,) = result.profile.choices
    assert choice.model_file == "m.fp16.onnx" and (out.parent / "m.fp16.onnx").is_file()
    assert result.profile.model_path(choice, out) == out.parent / "m.fp16.onnx"


def test_bad_requests_are_one_line_errors_before_measuring(tmp_path: Path) -> None:
    model = seq_model(tmp_path / "m.onnx")
    with pytest.raises(UsageError, match="unknown precision 'int4'"):
        tune_model(model, precisions=("fp32", "int4"), db=tmp_path / "r.db")
    with pytest.raises(UsageError, match="cannot tune: cuda"):
        tune_model(model, ep="cuda", db=tmp_path / "r.db")
    with pytest.raises(UsageError, match="model file not found"):
        tune_model(tmp_path / "nope.onnx", db=tmp_path / "r.db")
    half = seq_model(tmp_path / "h.onnx", precision="fp16")
    with pytest.raises(UsageError, match="tune the fp32 export"):
        tune_model(half, db=tmp_path / "r.db")
    assert not (tmp_path / "r.db").exists() or not ResultStore(tmp_path / "r.db", readonly=True).results()


def test_the_cli_tunes_and_prints_each_groups_choice(tmp_path: Path) -> None:
    model = seq_model(tmp_path / "m.onnx")
    out = tmp_path / "m.tuned.json"
    runner = CliRunner()
    done = runner.invoke(cli, ["tune", str(model), "--ep", "cpu", "--batch", "1", "--time", "16", "--precision", "fp32", "--no-knobs",
                               "--budget-s", "5", "--db", str(tmp_path / "r.db"), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "b=1 T=16" in done.output and f"profile: {out}" in done.output
    assert load_tuned_profile(out).choices[0].shapes == ((1, 16),)
    # again, as JSON: what the first run measured comes from the store (a run its budget cut short
    # goes on with the next stage)
    again = runner.invoke(cli, ["tune", str(model), "--ep", "cpu", "--batch", "1", "--time", "16", "--precision", "fp32", "--no-knobs",
                                "--budget-s", "5", "--db", str(tmp_path / "r.db"), "--out", str(out), "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.output)
    assert data["profile"] == str(out) and data["outcomes"][0]["reused"] >= 3
    assert data["tuned"]["format"] == "ortkit-tuned-profile"
    bad = runner.invoke(cli, ["tune", str(model), "--ep", "warpdrive", "--db", str(tmp_path / "r.db")])
    assert bad.exit_code in (1, 2) and "unknown execution provider 'warpdrive'" in bad.output and "Traceback" not in bad.output
