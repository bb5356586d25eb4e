"""`Runtime(model, tuned=...)` with real onnxruntime sessions: the profile's choice is what runs
(EP, settings, the precision variant file), and every bad profile is refused in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from onnxruntime.quantization import QuantType, quantize_dynamic

from ortkit.base import UsageError, file_sha256
from ortkit.runtime import (
    Runtime,
    SessionSettings,
    SettingsError,
    TunedChoice,
    TunedProfile,
    TunedProfileError,
    TunedProfileMismatch,
    TunedTarget,
)
from tests.runtime.conftest import mlp_model

X = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
TUNED = SessionSettings(threads=1, spinning=False, memory_pattern=False)


@pytest.fixture
def model(save) -> Path:  # type: ignore[no-untyped-def]
    return save(mlp_model(features=4, outputs=3))


def _profile(model: Path, *choices: TunedChoice, target: TunedTarget | None = None) -> TunedProfile:
    sha = file_sha256(model)
    if not choices:
        choices = (TunedChoice(shapes=((8, None),), ep="cpu", settings=TUNED, model_sha256=sha),)
    return TunedProfile(model_sha256=sha, target=target or TunedTarget.here(), choices=choices, model_label="mlp")


def _int8_variant(model: Path) -> Path:
    variant = model.with_name("model.int8.onnx")
    quantize_dynamic(str(model), str(variant), weight_type=QuantType.QInt8)
    return variant


def test_a_tuned_fp32_runtime_gives_the_untuned_outputs_with_the_profile_settings(model: Path, tmp_path: Path) -> None:
    path = _profile(model).save(tmp_path / "mlp.tuned.json")
    with Runtime(model, "cpu") as plain, Runtime(model, tuned=path, tuned_shape=(8, None)) as tuned:
        np.testing.assert_array_equal(tuned.run(X)["y"], plain.run(X)["y"])
        assert tuned.settings == TUNED and tuned.providers == ["CPUExecutionProvider"]
        assert tuned.tuned is not None and tuned.tuned.settings == TUNED
        assert plain.tuned is None


def test_an_isolated_tuned_runtime_runs_with_the_profile_settings(model: Path, tmp_path: Path) -> None:
    path = _profile(model).save(tmp_path / "mlp.tuned.json")
    with Runtime(model, "cpu") as plain, Runtime(model, tuned=path, isolate=True) as tuned:
        np.testing.assert_array_equal(tuned.run(X)["y"], plain.run(X)["y"])
        assert tuned.settings == TUNED


def test_the_choice_for_the_shape_picks_the_variant_file_that_won(model: Path, tmp_path: Path) -> None:
    variant = _int8_variant(model)
    sha = file_sha256(model)
    choices = (
        TunedChoice(shapes=((1, None),), ep="cpu", settings=SessionSettings(threads=1), model_sha256=sha),
        TunedChoice(shapes=((64, None),), ep="cpu", settings=TUNED, model_sha256=file_sha256(variant),
                    precision="int8-dynamic", model_file=variant.name),
    )
    path = _profile(model, *choices).save(tmp_path / "mlp.tuned.json")
    with Runtime(variant, "cpu") as int8, Runtime(model, "cpu") as fp32:
        want_int8, want_fp32 = int8.run(X)["y"], fp32.run(X)["y"]
    assert not np.array_equal(want_int8, want_fp32)  # the test can tell which file ran
    with Runtime(model, tuned=path, tuned_shape=(32, None)) as rt:
        np.testing.assert_array_equal(rt.run(X)["y"], want_int8)
        assert rt.tuned is not None and rt.tuned.precision == "int8-dynamic"
        assert any(n.op_type.startswith("DynamicQuantize") or "Integer" in n.op_type for n in rt.model.graph.node)
    with Runtime(model, tuned=path, tuned_shape=(1, None)) as rt:
        np.testing.assert_array_equal(rt.run(X)["y"], want_fp32)
        assert rt.settings == SessionSettings(threads=1)
    with Runtime(model, tuned=path, tuned_shape=(64, None), isolate=True) as rt:  # the child opens the variant
        np.testing.assert_array_equal(rt.run(X)["y"], want_int8)
    with Runtime(variant, tuned=path, tuned_shape=(64, None)) as rt:  # the variant given directly, where it won
        np.testing.assert_array_equal(rt.run(X)["y"], want_int8)
    with pytest.raises(TunedProfileMismatch, match="pass the tuned model"):  # ... and where it did not
        Runtime(variant, tuned=path, tuned_shape=(1, None))


def test_a_loaded_profile_object_is_accepted(model: Path) -> None:
    with Runtime(model, tuned=_profile(model)) as rt:
        assert rt.settings == TUNED


def test_a_profile_for_another_model_is_refused_naming_both_hashes(model: Path, tmp_path: Path, save) -> None:  # type: ignore[no-untyped-def]
    other = save(mlp_model(seed=7), "other.onnx")
    path = _profile(other).save(tmp_path / "other.tuned.json")
    with pytest.raises(TunedProfileMismatch) as error:
        Runtime(model, tuned=path)
    assert file_sha256(other)[:12] in str(error.value) and file_sha256(model)[:12] in str(error.value)
    assert "\n" not in str(error.value)


def test_a_profile_for_another_machine_is_refused_naming_both(model: Path, tmp_path: Path) -> None:
    here = TunedTarget.here()
    elsewhere = dataclasses.replace(here, cpu="Some Other CPU 9000", cores=here.cores + 6)
    path = _profile(model, target=elsewhere).save(tmp_path / "mlp.tuned.json")
    with pytest.raises(TunedProfileMismatch, match="Some Other CPU 9000") as error:
        Runtime(model, tuned=path)
    assert here.describe() in str(error.value)


def test_a_damaged_profile_file_is_one_line(model: Path, tmp_path: Path) -> None:
    path = _profile(model).save(tmp_path / "mlp.tuned.json")
    data = json.loads(path.read_text())
    del data["choices"][0]["settings"]
    path.write_text(json.dumps(data))
    with pytest.raises(TunedProfileError, match="damaged"):
        Runtime(model, tuned=path)
    path.write_text('{"format": "ortkit-tuned-profile", "vers')
    with pytest.raises(TunedProfileError, match="not readable JSON"):
        Runtime(model, tuned=path)
    with pytest.raises(TunedProfileError, match="does not exist"):
        Runtime(model, tuned=tmp_path / "nothing.json")


def test_a_missing_or_changed_variant_file_is_refused(model: Path, tmp_path: Path) -> None:
    variant = _int8_variant(model)
    choice = TunedChoice(shapes=((8, None),), ep="cpu", settings=TUNED, model_sha256=file_sha256(variant),
                         precision="int8-dynamic", model_file=variant.name)
    path = _profile(model, choice).save(tmp_path / "mlp.tuned.json")
    variant.write_bytes(variant.read_bytes() + b"\0")
    with pytest.raises(TunedProfileMismatch, match="changed since tuning"):
        Runtime(model, tuned=path)
    variant.unlink()
    with pytest.raises(TunedProfileError, match="missing"):
        Runtime(model, tuned=path)


@pytest.mark.parametrize("explicit", [
    dict(providers="cpu"), dict(threads=2), dict(optimization="basic"), dict(settings=SessionSettings(threads=1)),
    dict(ep_options={"cpu": {"x": "1"}}),
])
def test_tuned_with_explicit_session_choices_is_a_usage_error(model: Path, explicit: dict[str, object]) -> None:
    with pytest.raises(UsageError, match=f"do not pass {next(iter(explicit))}"):
        Runtime(model, tuned=_profile(model), **explicit)  # type: ignore[arg-type]


def test_a_tuned_shape_without_a_profile_is_refused(model: Path) -> None:
    with pytest.raises(SettingsError, match="tuned="):
        Runtime(model, tuned_shape=(1, None))
