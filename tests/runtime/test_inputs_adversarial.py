"""Inputs an application might pass by mistake: each gives the right numbers or a one-line
`InputError` saying what was expected, never a TypeError or an onnxruntime traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ortkit.runtime import InputError, Runtime


@pytest.fixture
def mlp(models):
    model = models.mlp()
    return Runtime(model.SerializeToString(), "cpu"), ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _expected(raw: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return raw.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]


X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


class _ArrayLike:
    def __array__(self, dtype=None, copy=None):
        return X


class _Broken:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("cannot export")


def _layouts(tmp_path: Path) -> dict[str, np.ndarray]:
    read_only = X.copy()
    read_only.flags.writeable = False
    np.save(tmp_path / "x.npy", X)
    wide = np.zeros((3, 8), np.float32)
    wide[:, ::2] = X
    return {
        "negative strides": X[::-1].copy()[::-1],
        "Fortran order": np.asfortranarray(X),
        "read-only": read_only,
        "memory-mapped": np.load(tmp_path / "x.npy", mmap_mode="r"),
        "strided view": wide[:, ::2],
        "other byte order": X.astype(">f4"),
        "__array__ object": _ArrayLike(),  # type: ignore[dict-item]
    }


def test_layouts_give_the_right_answer(mlp, tmp_path: Path) -> None:
    rt, raw = mlp
    want = _expected(raw, X)
    for label, value in _layouts(tmp_path).items():
        np.testing.assert_array_equal(rt.run({"x": value})["y"], want, err_msg=label)
    # NaN is data, not an error: it propagates as onnxruntime computes it.
    nan = X.copy()
    nan[1, 2] = np.nan
    got = rt.run({"x": nan})["y"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(_expected(raw, nan)))
    # Python lists, scalars and float64 convert only when asked to.
    np.testing.assert_array_equal(rt.run({"x": X.tolist()}, cast=True)["y"], want)
    np.testing.assert_array_equal(rt.run({"x": X.astype(np.float64)}, cast=True)["y"], want)
    np.testing.assert_array_equal(rt.run({"x": X.astype(object)}, cast=True)["y"], want)


@pytest.mark.parametrize(
    ("value", "cast", "needles"),
    [
        (X.tolist(), False, ["input 'x'", "expected dtype float32, got a list that converts to float64", "cast=True"]),
        (1.0, False, ["got a float that converts to float64"]),
        (np.float32(1.0), False, ["expected rank 2 (batch, 4), got shape ()"]),
        (np.array(1.0, np.float32), False, ["expected rank 2", "got shape ()"]),
        (X.astype(np.float64), False, ["expected dtype float32, got float64"]),
        (X.astype(np.float16), False, ["expected dtype float32, got float16"]),
        (X > 0, False, ["expected dtype float32, got bool"]),
        (X[None], False, ["expected rank 2 (batch, 4), got shape (1, 3, 4)"]),
        (X[:, :3], False, ["expected dim 1 = 4", "got shape (3, 3)"]),
        (np.zeros((0, 4), np.float32), False, ["input 'x'", "batch is 0", "give at least one element"]),
        (np.array([[1, "a", None, 2]], dtype=object), True, ["cannot cast object to float32"]),
        (np.array([[1, "a", None, 2]], dtype=object), False, ["expected dtype float32, got object"]),
        (np.array([["1", "2", "3", "4"]]), True, ["cannot cast str", "convert it yourself"]),
        (X.astype(np.complex64), True, ["would drop the imaginary part"]),
        (np.zeros((1, 4), "datetime64[s]"), True, ["cannot cast datetime64"]),
        (np.zeros((1, 4), dtype=[("a", "f4")]), True, ["cannot cast void"]),
        (np.ma.masked_array(X, mask=X > 0), False, ["masked array", "mask would be ignored"]),
        ([[1.0, 2.0], [3.0]], True, ["cannot make an array", "inhomogeneous"]),
        (_Broken(), False, ["cannot make an array", "cannot export"]),
        (None, False, ["expected a numpy array of float32", "got NoneType"]),
        (b"\x00\x01", False, ["got bytes"]),
        ({"nested": 1}, False, ["got dict"]),
        (iter([X]), False, ["got list_iterator"]),
    ],
)
def test_bad_values(mlp, value, cast: bool, needles: list[str]) -> None:
    rt, _ = mlp
    with pytest.raises(InputError) as info:
        rt.run({"x": value}, cast=cast)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message


def test_int_inputs_refuse_nan_casts(models) -> None:
    rt = Runtime(models.two_input().SerializeToString(), "cpu")
    feed = {"x": np.ones((1, 2, 8), np.float32), "s": np.ones((1, 1, 8), np.float32)}
    # A fraction is not truncated (astype would): cast=True never invents a value.
    with pytest.raises(InputError, match="1.9 is not a whole number"):
        rt.run({**feed, "t": np.array([1.9, 2.0, 3.0])}, cast=True)
    assert int(rt.run({**feed, "t": np.array([1.0, 2.0, 3.0])}, cast=True)["n"]) == 6
    with pytest.raises(InputError, match="cannot cast nan to int64"):
        rt.run({**feed, "t": np.array([np.nan, 2.0, 3.0])}, cast=True)
    with pytest.raises(InputError, match="expected dtype int64, got float64"):
        rt.run({**feed, "t": np.array([1.0, 2.0, 3.0])})
    # ints given as a Python list are int64 already: no cast needed.
    assert int(rt.run({**feed, "t": [1, 2, 3]})["n"]) == 6


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        (None, "no inputs given; the model takes x, s, t"),
        ({"x": 1, "s": 2, "t": 3, "extra": 4}, "unknown 'extra'"),
        ({"x": 1}, "missing 's', 't'"),
        ([np.ones((1, 2, 8), np.float32)] * 4, "expected 3 input(s) (x, s, t) by position, got 4"),
        ([np.ones((1, 2, 8), np.float32)], "expected 3 input(s) (x, s, t) by position, got 1"),
        ({1: 1, 2: 2, 3: 3}, "missing 'x', 's', 't'"),
        ({"x": np.ones((2, 2, 8), np.float32), "s": np.ones((3, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         "inputs 'x' and 's' disagree on 'batch': expected batch = 2 (from 'x'), got 3"),
        ({"x": np.ones((2, 0, 8), np.float32), "s": np.ones((2, 1, 8), np.float32), "t": np.zeros(3, np.int64)},
         "input 'x': time is 0 in shape (2, 0, 8)"),
    ],
)
def test_names_counts_and_shared_dims(models, inputs, needle: str) -> None:
    rt = Runtime(models.two_input().SerializeToString(), "cpu")
    with pytest.raises(InputError) as info:
        rt.run(inputs)
    assert needle in str(info.value), str(info.value)


def test_call_forms(models) -> None:
    rt = Runtime(models.mlp().SerializeToString(), "cpu")
    with pytest.raises(InputError, match="by position, got 0"):
        rt()
    with pytest.raises(InputError, match="either by position or by name"):
        rt(X, x=X)
    assert rt(x=X)["y"].shape == (3, 3)
    assert rt.run((X,), as_tuple=True)[0].shape == (3, 3)


def test_a_declared_zero_dim_is_accepted(models) -> None:
    from onnx import TensorProto, helper

    model = models.build(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [0, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [0, 3])],
    )
    assert Runtime(model.SerializeToString(), "cpu").run({"x": np.zeros((0, 3), np.float32)})["y"].shape == (0, 3)


ABORT = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from tests.runtime.conftest import gru_model
from ortkit.runtime import Runtime, InputError
rt = Runtime(gru_model().SerializeToString(), "cpu")
for x in (np.zeros((1, 0, 5), np.float32), np.zeros((0, 3, 5), np.float32)):
    try:
        rt.run({"x": x, "h": np.zeros((x.shape[0], 1, 16), np.float32)})
    except InputError as error:
        print("InputError:", error)
"""


def test_empty_inputs_never_reach_kernels_that_abort() -> None:
    # onnxruntime 1.32's GRU kernel aborts the whole process ("terminate called without an active
    # exception") on time 0 or batch 0; the check must stop the call before it gets there. Run in
    # a child process so that a regression fails this test instead of killing the test run.
    done = subprocess.run([sys.executable, "-c", ABORT, str(Path(__file__).parents[2])], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and "time is 0" in lines[0] and "batch is 0" in lines[1], done.stdout


def test_undeclared_shape_string_and_sequence_inputs(models) -> None:
    from onnx import TensorProto, helper

    # No declared shape is not rank 0: onnxruntime reports both as [], the proto tells them apart.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["o"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    free = Runtime(model, "cpu")
    assert free.inputs[0].ranked is False and free.inputs[0].shape_text() == "(any shape)"
    assert free.run({"x": np.ones((2, 3, 4), np.float32)})["o"].shape == (2, 3, 4)
    assert free.run({"x": np.float32(3)})["o"].shape == ()
    with pytest.raises(InputError, match="expected dtype float32, got float64"):
        free.run({"x": np.ones(3)})
    scalar = Runtime(models.build(
        [helper.make_node("Identity", ["x"], ["o"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [])],
    ).SerializeToString(), "cpu")
    assert scalar.inputs[0].ranked is True
    with pytest.raises(InputError, match=r"expected rank 0 \(\), got shape \(1,\)"):
        scalar.run({"x": np.ones(1, np.float32)})
    # Strings: str arrays and lists are the same values as object arrays; numbers are not strings.
    strings = Runtime(models.build(
        [helper.make_node("Identity", ["s"], ["o"])],
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("o", TensorProto.STRING, ["n"])],
    ).SerializeToString(), "cpu")
    for value in (np.array(["a", "b"]), ["a", "b"], np.array(["a", "b"], dtype=object)):
        assert strings.run({"s": value})["o"].tolist() == ["a", "b"]
    with pytest.raises(InputError, match="expected strings"):
        strings.run({"s": np.array([1, 2])})
    # A sequence input goes to onnxruntime as given (a list of arrays), not packed into one array.
    sequence = Runtime(models.build(
        [helper.make_node("SequenceLength", ["s"], ["n"])],
        [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("n", TensorProto.INT64, [])],
    ).SerializeToString(), "cpu")
    assert int(sequence.run({"s": [np.ones(2, np.float32)] * 3})["n"]) == 3
    with pytest.raises(InputError, match="input 's': got None"):
        sequence.run({"s": None})
