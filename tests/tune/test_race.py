"""Racing with real workers and a real store: a clearly slower candidate is dropped with
confidence, a faster one is confirmed against the default in fresh processes, everything is
stored, and a rerun resumes from the store."""

from __future__ import annotations

from pathlib import Path

from ortkit.base import file_sha256
from ortkit.profiler import Environment, ProfileSpec, ResultStore, collect_environment
from ortkit.runtime import SessionSettings
from ortkit.tune import MIN_DROP_ROUNDS, Candidate, RaceSettings, ShapeGroup, race_group

from tests.tune.conftest import seq_model

QUICK = RaceSettings(stage_rounds=(MIN_DROP_ROUNDS,), slice_s=0.01, confirm_rounds=6, confirm_processes=1)
GROUP = ShapeGroup(((4, 32), (4, 64)), (4, 64))


def _setup(tmp_path: Path) -> tuple[Candidate, Candidate, ProfileSpec, Environment]:
    light, heavy = seq_model(tmp_path / "light.onnx", 8), seq_model(tmp_path / "heavy.onnx", 4096)
    one = SessionSettings(threads=1)

    def candidate(path: Path, settings: SessionSettings) -> Candidate:
        return Candidate("cpu", settings, "fp32", str(path), file_sha256(path))

    base = ProfileSpec(model=str(light), model_sha256=file_sha256(light), model_label="seq")
    return candidate(light, one), candidate(heavy, SessionSettings(threads=1, spinning=False)), base, Environment.from_dict(collect_environment().to_dict())


def test_a_clearly_slower_candidate_is_dropped_and_the_default_that_won_is_kept(tmp_path: Path) -> None:
    light, heavy, base, env = _setup(tmp_path)
    with ResultStore(tmp_path / "r.db") as store:
        outcome = race_group(GROUP, [light, heavy], base, store, env, settings=QUICK)
    assert outcome.winner == light and outcome.choice == light
    assert outcome.gain is None and not outcome.confident and "default won" in outcome.note
    ((dropped, why),) = outcome.eliminated
    assert dropped == heavy and why.startswith("slower than the leader at stage 1") and "paired over" in why


def test_a_faster_candidate_is_confirmed_in_fresh_processes_with_a_gain_above_one(tmp_path: Path) -> None:
    light, heavy, base, env = _setup(tmp_path)
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        outcome = race_group(GROUP, [heavy, light], base, store, env, settings=QUICK)
    assert outcome.winner == light and outcome.choice == light and outcome.confident
    assert outcome.gain is not None and outcome.gain.low > 1.0 and outcome.gain.rounds >= 3
    assert outcome.measured == 4 and outcome.reused == 0  # two raced, then both confirmed
    rows = ResultStore(db, readonly=True).results(status="ok")
    assert sorted(dict(r.spec.tags)["tune"] for r in rows) == ["confirm", "confirm", "race1", "race1"]
    assert all((r.spec.batch, r.spec.time) == (4, 64) and r.metrics.round_ids for r in rows)
    # the same race again: every measurement comes from the store, and the answer is the same
    with ResultStore(db) as store:
        again = race_group(GROUP, [heavy, light], base, store, env, settings=QUICK)
    assert again.measured == 0 and again.reused == 4
    assert again.choice == light and again.gain == outcome.gain


def test_a_group_where_nothing_can_be_measured_is_an_error_not_a_profile(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    import pytest
    from onnx import TensorProto, helper, numpy_helper

    from ortkit.base import OrtkitError

    # Loads and takes x (batch, time, 8), but its Reshape to 7 elements fails at run time.
    shape = numpy_helper.from_array(np.array([7], dtype=np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "bad",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    bad = Candidate("cpu", SessionSettings(), "fp32", str(path), file_sha256(path))
    base = ProfileSpec(model=str(path), model_sha256=bad.model_sha256, model_label="bad")
    env = Environment.from_dict(collect_environment().to_dict())
    with ResultStore(tmp_path / "r.db") as store, pytest.raises(OrtkitError, match="no candidate could be measured; the default: failed"):
        race_group(GROUP, [bad, Candidate("cpu", SessionSettings(threads=1), "fp32", str(path), bad.model_sha256)], base, store, env,
                   settings=QUICK)
