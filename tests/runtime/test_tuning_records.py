"""The tuned-profile records: settings validation and identity, the JSON file's round trip,
and the refusals (another model, another machine, damaged or foreign files)."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest

from ortkit.runtime import (
    SessionSettings,
    SettingsError,
    TunedChoice,
    TunedGain,
    TunedProfile,
    TunedProfileError,
    TunedProfileMismatch,
    TunedTarget,
    load_tuned_profile,
)

HASH = "a" * 64


def _profile(**changes: object) -> TunedProfile:
    choices = (
        TunedChoice(shapes=((1, 64),), ep="cpu", settings=SessionSettings(threads=1, spinning=False), model_sha256=HASH,
                    gain=TunedGain(1.3, 1.2, 1.4, rounds=8)),
        TunedChoice(shapes=((64, 64), (64, 256)), ep="cpu", settings=SessionSettings(threads=2), model_sha256="b" * 64,
                    precision="int8-dynamic", model_file="m.int8.onnx"),
    )
    values: dict[str, object] = dict(model_sha256=HASH, target=TunedTarget.here(), choices=choices, model_label="lstm")
    values.update(changes)
    return TunedProfile(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("values, words", [
    (dict(threads=0), "threads"),
    (dict(threads=True), "threads"),
    (dict(inter_op_threads=2), "parallel"),
    (dict(execution_mode="fast"), "execution_mode"),
    (dict(optimization="max"), "optimization"),
    (dict(spinning="no"), "spinning"),
])
def test_invalid_settings_are_refused_with_the_setting_named(values: dict[str, object], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        SessionSettings(**values)  # type: ignore[arg-type]


def test_default_settings_add_nothing_to_a_configuration_identity() -> None:
    assert SessionSettings(threads=4, optimization="basic").extra() == ()
    tuned = SessionSettings(threads=2, execution_mode="parallel", inter_op_threads=2, spinning=False)
    assert tuned.extra() == (("execution_mode", "parallel"), ("inter_op_threads", "2"), ("spinning", "false"))
    assert SessionSettings.from_extra(tuned.extra(), threads=2) == tuned


def test_settings_reach_onnxruntime_options() -> None:
    options = ort.SessionOptions()
    SessionSettings(threads=3, execution_mode="parallel", inter_op_threads=2, cpu_arena=False, memory_pattern=False).apply(options)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 2)
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert not options.enable_cpu_mem_arena and not options.enable_mem_pattern


def test_profile_round_trips_through_its_file(tmp_path) -> None:
    profile = _profile()
    loaded = load_tuned_profile(profile.save(tmp_path / "p.json"))
    assert loaded == profile


def test_choice_for_picks_the_nearest_shape_group() -> None:
    profile = _profile()
    assert profile.choice_for().precision == "fp32"
    assert profile.choice_for(64, 256).precision == "int8-dynamic"
    assert profile.choice_for(32, 100).precision == "int8-dynamic"
    assert profile.choice_for(2, 64).precision == "fp32"


def test_another_model_is_refused_naming_both_hashes() -> None:
    with pytest.raises(TunedProfileMismatch, match=r"aaaaaaaaaaaa.*cccccccccccc"):
        _profile().check("c" * 64)


def test_another_machine_is_refused_naming_both_machines() -> None:
    elsewhere = TunedTarget(cpu="Some Other CPU", cores=64, onnxruntime="0.0.1")
    with pytest.raises(TunedProfileMismatch, match=r"Some Other CPU.*this machine is"):
        _profile(target=elsewhere).check(HASH)
    _profile().check(HASH)  # the same machine passes


@pytest.mark.parametrize("text, words", [
    ("not json", "not readable JSON"),
    ('{"format": "something-else"}', "not an ortkit tuned profile"),
    ('{"format": "ortkit-tuned-profile", "version": 99}', "version 99"),
    ('{"format": "ortkit-tuned-profile", "version": 1, "target": {}}', "damaged"),
])
def test_foreign_or_damaged_files_get_one_line_errors(tmp_path, text: str, words: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(TunedProfileError, match=words):
        load_tuned_profile(path)


def test_damaged_values_inside_a_profile_are_refused(tmp_path) -> None:
    data = _profile().to_dict()
    data["choices"][0]["settings"]["threads"] = -1
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TunedProfileError, match="threads"):
        load_tuned_profile(path)
    with pytest.raises(TunedProfileError, match="does not exist"):
        load_tuned_profile(tmp_path / "missing.json")


def test_runtime_opens_its_session_with_the_settings(tmp_path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from ortkit.runtime import Runtime

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    settings = SessionSettings(threads=1, execution_mode="parallel", inter_op_threads=2, spinning=False)
    for isolate in (False, True):
        rt = Runtime(path, "cpu", settings=settings, isolate=isolate)
        assert rt.settings == settings
        assert np.array_equal(rt.run({"x": -np.ones((1, 4), np.float32)})["y"], np.zeros((1, 4), np.float32))
        rt.close()
    with pytest.raises(SettingsError, match="inside settings"):
        Runtime(path, "cpu", threads=2, settings=settings)
