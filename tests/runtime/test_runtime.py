"""Runtime: signature, input checks, providers, node assignment, I/O binding, import hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ortkit
from ortkit.base import OrtkitError
from ortkit.runtime import InputError, ModelRejected, ProviderUnavailable, Runtime, TensorInfo, available_providers
from ortkit.runtime._errors import RunFailed
from ortkit.runtime._providers import CPU, ProviderChoice, check_assignment, check_cpu_fallback, resolve_providers


def _raw(model: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)


def test_run_matches_raw_onnxruntime(models, save) -> None:
    model = models.gru()
    rt = Runtime(save(model))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    h = rng.standard_normal((3, 1, 16)).astype(np.float32)
    expected = _raw(model, {"x": x, "h": h})
    out = rt.run({"x": x, "h": h})
    assert list(out) == ["y", "h_out"]
    np.testing.assert_array_equal(out["y"], expected[0])
    np.testing.assert_array_equal(out["h_out"], expected[1])
    by_position = rt.run([x, h], as_tuple=True)
    assert isinstance(by_position, tuple)
    np.testing.assert_array_equal(by_position[0], expected[0])
    np.testing.assert_array_equal(rt(x, h)["y"], expected[0])
    np.testing.assert_array_equal(rt(x=x, h=h)["y"], expected[0])


def test_signature_providers_metadata(models, save) -> None:
    rt = Runtime(save(models.gru()), "cpu")
    assert rt.inputs == (TensorInfo("x", "float32", ("batch", "time", 5)), TensorInfo("h", "float32", ("batch", 1, 16)))
    assert rt.outputs[0] == TensorInfo("y", "float32", ("batch", "time", 3))
    assert rt.providers == ["CPUExecutionProvider"]
    assert rt.metadata["ortkit.model"] == "gru-test"
    assert rt.metadata["ortkit.streaming"] == "1"
    assert isinstance(rt.session, ort.InferenceSession)
    # Every node of the optimized graph is on the CPU EP; the op breakdown adds up.
    assert set(rt.node_assignment) == {CPU}
    assert rt.node_assignment[CPU] == sum(rt.node_assignment_ops[CPU].values())
    assert rt.node_assignment_ops[CPU].get("GRU") == 1
    unoptimized = Runtime(save(models.gru(), "b.onnx"), "cpu", optimization="disabled")
    assert unoptimized.node_assignment[CPU] == len(models.gru().graph.node)
    assert "Runtime(" in repr(rt)


def test_public_names_are_reexported_from_ortkit() -> None:
    assert ortkit.Runtime is Runtime and ortkit.InputError is InputError and ortkit.ModelRejected is ModelRejected
    assert issubclass(InputError, ValueError) and issubclass(InputError, OrtkitError)
    assert issubclass(ModelRejected, OrtkitError) and issubclass(ProviderUnavailable, OrtkitError)


@pytest.mark.parametrize(
    ("feed", "needles"),
    [
        ({"x": np.zeros((2, 4, 8), np.float64), "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["input 'x'", "expected dtype float32, got float64", "cast=True"]),
        ({"x": np.zeros((2, 8), np.float32), "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["input 'x'", "expected rank 3 (batch, time, 8)", "got shape (2, 8)"]),
        ({"x": np.zeros((2, 4, 7), np.float32), "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["input 'x'", "expected dim 2 = 8", "got shape (2, 4, 7)"]),
        ({"x": np.zeros((2, 4, 8), np.float32), "s": np.zeros((3, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["inputs 'x' and 's' disagree on 'batch'", "expected batch = 2", "got 3"]),
        ({"x": np.zeros((2, 4, 8), np.float32), "s": np.zeros((2, 1, 8), np.float32)},
         ["expected inputs x, s, t", "missing 't'"]),
        ({"x": np.zeros((2, 4, 8), np.float32), "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64), "z": 1},
         ["unknown 'z'"]),
        ({"x": np.zeros((2, 4, 8), np.float32), "S": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["missing 's'", "unknown 'S'"]),
        ({"x": "hello", "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["input 'x'", "expected a numpy array of float32", "got str"]),
        ({"x": object(), "s": np.zeros((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         ["input 'x'", "got object"]),
    ],
)
def test_input_errors(models, feed, needles) -> None:
    rt = Runtime(models.two_input().SerializeToString(), "cpu")
    with pytest.raises(InputError) as info:
        rt.run(feed)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    with pytest.raises(ValueError):  # callers of raw onnxruntime catch ValueError
        rt.run(feed)


def test_positional_count_error(models) -> None:
    rt = Runtime(models.two_input().SerializeToString(), "cpu")
    with pytest.raises(InputError, match=r"expected 3 input\(s\) \(x, s, t\) by position, got 1"):
        rt.run(np.zeros((1, 1, 8), np.float32))


def test_cast_lists_noncontiguous_and_byte_order(models) -> None:
    model = models.mlp()
    rt = Runtime(model.SerializeToString(), "cpu")
    x64 = np.random.default_rng(0).standard_normal((5, 4))
    expected = _raw(model, {"x": x64.astype(np.float32)})[0]
    with pytest.raises(InputError):
        rt.run({"x": x64})
    np.testing.assert_array_equal(rt.run({"x": x64}, cast=True)["y"], expected)
    np.testing.assert_array_equal(rt.run({"x": x64.astype(np.float32).tolist()}, cast=True)["y"], expected)
    wide = np.zeros((5, 8), np.float32)
    wide[:, ::2] = x64
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(rt.run({"x": view})["y"], expected)
    np.testing.assert_array_equal(rt.run({"x": x64.astype(np.float32).T.copy().T})["y"], expected)
    swapped = x64.astype(">f4")
    np.testing.assert_array_equal(rt.run({"x": swapped})["y"], expected)  # same type, other byte order


def test_run_failure_inside_graph_is_one_line(models) -> None:
    # Reshape to a fixed 6 elements: inputs pass the signature but the graph cannot run them.
    model = models.build(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [onnx.numpy_helper.from_array(np.array([2, 3], np.int64), "shape")],
    )
    rt = Runtime(model.SerializeToString(), "cpu")
    np.testing.assert_array_equal(rt.run({"x": np.arange(6, dtype=np.float32)})["y"], np.arange(6).reshape(2, 3))
    with pytest.raises((RunFailed, InputError)) as info:
        rt.run({"x": np.arange(5, dtype=np.float32)})
    assert isinstance(info.value, OrtkitError) and "\n" not in str(info.value)


def test_io_binding_path_gives_the_same_outputs(models) -> None:
    # The device path (I/O binding, reused OrtValues) exercised on the CPU: same numbers, the
    # caller's arrays untouched, OrtValues reused across calls of one shape.
    model = models.gru()
    rt = Runtime(model.SerializeToString(), "cpu")
    bound = Runtime(model.SerializeToString(), "cpu")
    bound._bound_device = ("cpu", 0)
    rng = np.random.default_rng(2)
    for t in (1, 4, 4, 9, 4):
        x = rng.standard_normal((2, t, 5)).astype(np.float32)
        h = rng.standard_normal((2, 1, 16)).astype(np.float32)
        keep = x.copy()
        np.testing.assert_array_equal(bound.run({"x": x, "h": h})["y"], rt.run({"x": x, "h": h})["y"])
        np.testing.assert_array_equal(x, keep)
    values = bound._local.binding.values
    assert values["x"][0] == (2, 4, 5)


def test_provider_specs() -> None:
    assert available_providers()[-1] == "cpu"
    choices, auto = resolve_providers("auto")
    assert auto and choices[-1].name == CPU
    choices, auto = resolve_providers(["CPUExecutionProvider"])
    assert not auto and choices[0].name == CPU
    with pytest.raises(ProviderUnavailable, match="unknown EP spec 'warp-drive'"):
        resolve_providers("warp-drive")
    with pytest.raises(ProviderUnavailable, match="cannot be combined"):
        resolve_providers(["auto", "cpu"])
    with pytest.raises(ProviderUnavailable, match="takes no ':x' suffix"):
        resolve_providers("cpu:x")


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this build has CUDA")
def test_explicit_ep_missing_from_the_build(models) -> None:
    with pytest.raises(ProviderUnavailable) as info:
        Runtime(models.mlp().SerializeToString(), "cuda:0")
    assert "not in this onnxruntime build" in str(info.value) and "cpu" in str(info.value)
    with pytest.raises(ProviderUnavailable, match="openvino"):
        Runtime(models.mlp().SerializeToString(), ["openvino:CPU", "cpu"])
    # strict=False: the missing EP is skipped and what runs is reported.
    relaxed = Runtime(models.mlp().SerializeToString(), "cuda:0", strict=False)
    assert relaxed.providers == ["CPUExecutionProvider"]
    assert relaxed.run({"x": np.ones((1, 4), np.float32)})["y"].shape == (1, 3)


def test_assignment_checks() -> None:
    cuda = ProviderChoice("cuda", "CUDAExecutionProvider")
    cpu = ProviderChoice("cpu", CPU)
    assert check_assignment([cuda], ["CUDAExecutionProvider", CPU], {"CUDAExecutionProvider": 9, CPU: 2}) is None
    assert "did not load" in check_assignment([cuda], [CPU], {CPU: 9})
    assert "got no node" in check_assignment([cuda], ["CUDAExecutionProvider", CPU], {CPU: 9})
    # Shape ops on the CPU are onnxruntime's own choice; a GRU there is a fallback.
    assert check_cpu_fallback([cuda], {"Shape": 2, "Gather": 1}) is None
    message = check_cpu_fallback([cuda], {"Shape": 2, "GRU": 1})
    assert message and "GRU x1" in message and "add 'cpu'" in message
    assert check_cpu_fallback([cuda, cpu], {"GRU": 1}) is None


def test_bad_options(models) -> None:
    data = models.mlp().SerializeToString()
    with pytest.raises(OrtkitError, match="optimization level"):
        Runtime(data, "cpu", optimization="max")
    with pytest.raises(OrtkitError, match="threads"):
        Runtime(data, "cpu", threads=0)
    rt = Runtime(data, "cpu", threads=1, optimization="basic")
    assert rt.run({"x": np.ones((1, 4), np.float32)})["y"].shape == (1, 3)


def test_ep_library_errors(tmp_path: Path, models) -> None:
    data = models.mlp().SerializeToString()
    with pytest.raises(ProviderUnavailable, match="no such file"):
        Runtime(data, "cpu", ep_library={"nothing": tmp_path / "libnothing.so"})
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"\x7fELF not really")
    with pytest.raises(ProviderUnavailable, match="did not load"):
        Runtime(data, "cpu", ep_library={"fake": fake})


def test_onnxruntime_missing_message_and_import_hygiene() -> None:
    from ortkit.runtime import ONNXRUNTIME_MISSING

    assert ONNXRUNTIME_MISSING == ortkit.ONNXRUNTIME_MISSING
    code = (
        "import sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "try:\n"
        "    import ortkit.runtime\n"
        "except ImportError as e:\n"
        "    print(str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ONNXRUNTIME_MISSING
    code = (
        "import sys, ortkit.runtime\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or "
        "(m.startswith('ortkit.') and m.split('.')[1] in ('models', 'exporter', 'profiler', '_cli', '_commands')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
