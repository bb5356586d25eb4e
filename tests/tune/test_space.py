"""The search space: shape groups, candidates per EP (CUDA and TensorRT built even where they
cannot run), and refusals before anything is measured."""

from __future__ import annotations

import pytest

from ortkit.base import UsageError
from ortkit.profiler import ProfileSpec
from ortkit.runtime import SessionSettings, SettingsError
from ortkit.tune import EP_KNOBS, Candidate, candidate_spec, candidates, check_ep_options, shape_groups, thread_options

FP32 = [("fp32", "/m/model.onnx", "a" * 64)]


def test_nearby_lengths_share_a_group_per_batch_and_are_raced_at_their_middle() -> None:
    groups = shape_groups([16, 1], [16, 64, 256, 1024, 4096])
    assert [g.shapes for g in groups] == [
        ((1, 16), (1, 64), (1, 256)), ((1, 1024), (1, 4096)), ((16, 16), (16, 64), (16, 256)), ((16, 1024), (16, 4096))]
    assert [g.probe for g in groups] == [(1, 64), (1, 1024), (16, 64), (16, 1024)]
    assert len(shape_groups([1], [16, 64], per_shape=True)) == 2
    assert shape_groups([4], [None])[0].shapes == ((4, None),)


def test_threads_are_tried_up_to_the_usable_cores() -> None:
    assert thread_options(1) == (1,)
    assert thread_options(2) == (1, 2)
    assert thread_options(12) == (1, 2, 4, 8, 12)


def test_cpu_candidates_start_with_the_default_and_vary_threads_precision_and_one_knob_at_a_time() -> None:
    found = candidates("cpu", 2, FP32 + [("int8-dynamic", "/m/q.onnx", "b" * 64)])
    assert found[0] == Candidate("cpu", SessionSettings(), "fp32", "/m/model.onnx", "a" * 64)
    assert len(set(found)) == len(found)
    assert {(c.precision, c.settings.threads) for c in found if not c.settings.extra() and c.settings.optimization == "all"} >= {
        ("fp32", 1), ("fp32", 2), ("int8-dynamic", 1), ("int8-dynamic", 2)}
    knobs = {c.settings.extra() for c in found}
    assert (("spinning", "false"),) in knobs and (("cpu_arena", "false"),) in knobs
    assert (("execution_mode", "parallel"), ("inter_op_threads", "2")) in knobs
    assert {c.settings.optimization for c in found} == {"all", "extended", "basic"}
    assert not any(c.ep_options for c in found)
    # one core: no parallel execution mode to try
    assert not any(c.settings.execution_mode == "parallel" for c in candidates("cpu", 1, FP32))
    assert len(candidates("cpu", 2, FP32, knobs=False)) == 3


@pytest.mark.parametrize("ep", ["openvino", "cuda", "tensorrt"])
def test_each_eps_own_knobs_are_candidates_even_where_the_ep_cannot_run(ep: str) -> None:
    found = candidates(ep, 2, FP32)
    options = {pair for c in found for pair in c.ep_options}
    assert options == {(name, value) for name, values in EP_KNOBS[ep] for value in values}
    assert all(c.ep == ep for c in found)


def test_invalid_combinations_are_refused_before_measuring() -> None:
    with pytest.raises(SettingsError, match="no effect in sequential"):
        SessionSettings(threads=2, inter_op_threads=2)
    with pytest.raises(SettingsError, match="no tuning option 'num_streams'"):
        check_ep_options("cuda", [("num_streams", "2")])
    with pytest.raises(UsageError, match="unknown execution provider"):
        candidates("warpdrive", 2, FP32)
    with pytest.raises(UsageError, match="fp32"):
        candidates("cpu", 2, [("fp16", "/m/h.onnx", "c" * 64)])


def test_each_candidate_is_its_own_stored_configuration() -> None:
    base = ProfileSpec(model="/m/model.onnx", model_sha256="a" * 64, model_label="m")
    found = candidates("cpu", 2, FP32 + [("fp16", "/m/h.onnx", "b" * 64)])
    specs = [candidate_spec(base, c, (1, 64), "race1") for c in found]
    assert len({s.spec_hash for s in specs}) == len(specs)
    assert all(("tune", "race1") in s.tags and (s.batch, s.time) == (1, 64) for s in specs)
    assert candidate_spec(base, found[0], (1, 64), "race1").spec_hash != candidate_spec(base, found[0], (1, 64), "confirm").spec_hash
    half = next(s for s in specs if s.precision == "fp16")
    assert half.model == "/m/h.onnx" and half.model_sha256 == "b" * 64
    knob = next(s for s in specs if s.session)
    assert SessionSettings.from_extra(knob.session, knob.threads, knob.optimization) in {c.settings for c in found}
