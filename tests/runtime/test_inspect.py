"""count_flops against hand-computed counts; op histogram, parameters, inspect_model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ortkit.runtime import FlopCount, InputError, count_flops, inspect_model
from ortkit.runtime._inspect import op_histogram, parameter_count


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("custom", 1)])
    model.ir_version = 8
    return model


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def _vi(name: str, *dims) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def test_conv_gemm_matmul_elementwise() -> None:
    # x (N, 3, 32, 32) -> Conv 16x3x3x3 pad 1 + bias -> Relu -> GlobalAveragePool -> Flatten -> Gemm 16->10
    model = _model(
        [
            helper.make_node("Conv", ["x", "Wc", "bc"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "Wg", "bg"], ["g"], transB=1),
            helper.make_node("MatMul", ["g", "Wm"], ["y"]),
        ],
        [_vi("x", "batch", 3, 32, 32)], [_vi("y", "batch", 4)],
        [_w("Wc", 16, 3, 3, 3), _w("bc", 16), _w("Wg", 10, 16), _w("bg", 10), _w("Wm", 10, 4)],
    )
    n = 2
    conv = 2 * (n * 16 * 32 * 32) * (3 * 3 * 3) + n * 16 * 32 * 32
    relu = n * 16 * 32 * 32
    pool = n * 16 * 32 * 32
    gemm = 2 * n * 10 * 16 + n * 10
    matmul = 2 * n * 4 * 10
    count = count_flops(model, {"batch": n})
    assert count.per_op_type == {"Conv": conv, "Relu": relu, "GlobalAveragePool": pool, "Flatten": 0, "Gemm": gemm, "MatMul": matmul}
    assert count.total == conv + relu + pool + gemm + matmul
    assert count.complete and count.uncounted_ops == ()
    assert count_flops(model, {"x": (n, 3, 32, 32)}) == count
    assert count_flops(model, {"batch": 2 * n}).total == 2 * count.total


def test_conv_transpose() -> None:
    # (1, 8, 10) -> ConvTranspose W (8, 4, 3), stride 2 -> (1, 4, 21)
    model = _model([helper.make_node("ConvTranspose", ["x", "W"], ["y"], strides=[2])], [_vi("x", 1, 8, 10)], [_vi("y", 1, 4, 21)], [_w("W", 8, 4, 3)])
    assert count_flops(model).total == 2 * (8 * 10) * (4 * 3)


@pytest.mark.parametrize(
    ("op", "gates", "update"), [("LSTM", 4, 5), ("GRU", 3, 4), ("RNN", 1, 0)]
)
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_recurrent(op: str, gates: int, update: int, direction: str) -> None:
    dirs = 2 if direction == "bidirectional" else 1
    hidden, features, batch, steps = 6, 5, 3, 7
    model = _model(
        [helper.make_node(op, ["x", "W", "R", "B"], ["Y"], hidden_size=hidden, direction=direction)],
        [_vi("x", "time", "batch", features)], [_vi("Y", "time", dirs, "batch", hidden)],
        [_w("W", dirs, gates * hidden, features), _w("R", dirs, gates * hidden, hidden), _w("B", dirs, 2 * gates * hidden)],
    )
    per_step = 2 * batch * gates * hidden * (features + hidden) + 2 * batch * gates * hidden + batch * hidden * (gates + update)
    count = count_flops(model, {"time": steps, "batch": batch})
    assert count.per_op_type == {op: per_step * steps * dirs}


def test_batch_first_layout() -> None:
    model = _model(
        [helper.make_node("GRU", ["x", "W", "R"], ["Y"], hidden_size=4, layout=1)],
        [_vi("x", 2, 9, 3)], [_vi("Y", 2, 9, 1, 4)], [_w("W", 1, 12, 3), _w("R", 1, 12, 4)],
    )
    assert count_flops(model).total == (2 * 2 * 3 * 4 * (3 + 4) + 2 * 4 * (3 + 4)) * 9


def test_unknown_ops_are_listed_never_zero() -> None:
    model = _model(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mystery", ["r"], ["m"], domain="custom"),
         helper.make_node("Relu", ["m"], ["y"])],
        [_vi("x", 4, 4)], [_vi("y", 4, 4)],
    )
    count = count_flops(model)
    assert count.uncounted_ops == ("Relu", "custom.Mystery") or count.uncounted_ops == ("custom.Mystery",)
    assert "custom.Mystery" in count.uncounted_ops and "custom.Mystery" not in count.per_op_type
    assert not count.complete
    assert count.per_op_type.get("Relu", 0) >= 16  # the first Relu has a known shape


def test_symbolic_without_shapes_is_an_input_error() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", "batch", 4)], [_vi("y", "batch", 4)])
    with pytest.raises(InputError, match="'batch'"):
        count_flops(model)
    with pytest.raises(InputError, match="fixed at 4"):
        count_flops(model, {"x": (2, 5)})
    assert count_flops(model, {"x": (2, 4)}) == FlopCount(8, {"Relu": 8}, ())
    assert count_flops(model, {"batch": np.int64(3)}).total == 12  # numpy ints are sizes too


def test_histogram_parameters_and_report(models, save) -> None:
    model = models.gru()
    assert op_histogram(model) == {"Transpose": 4, "GRU": 1, "MatMul": 1, "Squeeze": 1}
    # W 48x5, R 48x16, B 96, Wo 16x3; the int64 axes constant is not a parameter.
    assert parameter_count(model) == 48 * 5 + 48 * 16 + 96 + 16 * 3
    report = inspect_model(save(model), "cpu", {"batch": 1, "time": 100})
    assert report.flops is not None and report.flops.complete
    assert report.flops.per_op_type["GRU"] == (2 * 3 * 16 * (5 + 16) + 2 * 3 * 16 + 16 * 7) * 100
    assert report.flops_shapes == {"x": [1, 100, 5], "h": [1, 1, 16]}
    assert report.node_assignment == {"CPUExecutionProvider": 7}
    assert report.metadata["ortkit.streaming"] == "1"
    data = report.to_dict()
    assert data["inputs"][0] == {"name": "x", "dtype": "float32", "dims": ["batch", "time", 5]}
    assert data["opsets"] == {"ai.onnx": 17}
    text = "\n".join(report.lines())
    assert "GRU 1" in text and "parameters  1,152" in text
    unshaped = inspect_model(save(model, "b.onnx"), "cpu")
    assert unshaped.flops is None and "symbolic" in unshaped.flops_note


def test_conv_with_stride_dilation_groups_and_padding() -> None:
    # x (2, 4, 50): Conv W (6, 2, 3), group 2, stride 2, dilation 3, pads (2, 1) -> length
    # (50 + 3 - 3 * 2 - 1) // 2 + 1 = 24; each output element sums 2 channels x 3 taps.
    conv = helper.make_node("Conv", ["x", "W", "b"], ["y"], group=2, strides=[2], dilations=[3], pads=[2, 1], kernel_shape=[3])
    model = _model([conv], [_vi("x", 2, 4, 50)], [_vi("y", 2, 6, 24)], [_w("W", 6, 2, 3), _w("b", 6)])
    assert count_flops(model).total == 2 * (2 * 6 * 24) * (2 * 3) + 2 * 6 * 24
    # the same count from the attributes alone, when shape inference gave no output shape
    from ortkit.runtime._flops import _conv_output

    assert _conv_output(conv, (2, 4, 50), (6, 2, 3)) == (2, 6, 24)
    same = helper.make_node("Conv", ["x", "W"], ["y"], strides=[2], auto_pad="SAME_UPPER")
    assert _conv_output(same, (1, 4, 51), (6, 4, 3)) == (1, 6, 26)


def test_causal_conv_with_computed_pads_is_counted_exactly() -> None:
    # A TCN's causal left padding as the TorchScript exporter writes it: torch's pads (4, 0) for the
    # last axis, extended with zeros, reshaped to pairs, reversed and transposed into ONNX order
    # (0, 0, 4, 0, 0, 0), a chain that shape inference alone does not follow.
    def const(name: str, values: list[int]) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64), name))

    nodes = [
        const("n_zeros", [4]), const("torch_pads", [4, 0]), const("pairs", [-1, 2]), const("flat", [-1]),
        const("starts", [-1]), const("ends", [-100]), const("axes", [0]), const("steps", [-1]),
        helper.make_node("ConstantOfShape", ["n_zeros"], ["zeros"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Concat", ["torch_pads", "zeros"], ["raw"], axis=0),
        helper.make_node("Reshape", ["raw", "pairs"], ["paired"]),
        helper.make_node("Slice", ["paired", "starts", "ends", "axes", "steps"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["onnx_order"], perm=[1, 0]),
        helper.make_node("Reshape", ["onnx_order", "flat"], ["pads"]),
        helper.make_node("Pad", ["x", "pads"], ["padded"]),
        helper.make_node("Conv", ["padded", "W", "b"], ["y"], kernel_shape=[3], dilations=[2]),
        helper.make_node("Relu", ["y"], ["r"]),
    ]
    model = _model(nodes, [_vi("x", "batch", 4, "time")], [_vi("r", "batch", 8, "time")], [_w("W", 8, 4, 3), _w("b", 8)])
    count = count_flops(model, {"batch": 2, "time": 30})
    assert count.complete, count.uncounted_ops
    # padded to 34 steps, the dilated kernel spans 5: 30 outputs per channel, 4 channels x 3 taps each
    assert count.per_op_type["Conv"] == 2 * (2 * 8 * 30) * (4 * 3) + 2 * 8 * 30
    assert count.per_op_type["Relu"] == 2 * 8 * 30


def test_ops_after_a_contrib_lstm_are_counted() -> None:
    # onnx's shape inference does not know com.microsoft's DynamicQuantizeLSTM; its outputs are
    # typed from its input and hidden_size, so the head after it is sized and counted
    t, b, f, h = 12, 2, 3, 5
    lstm = helper.make_node("DynamicQuantizeLSTM", ["x", "W", "R"], ["Y", "Y_h"], domain="com.microsoft", hidden_size=h)
    nodes = [lstm, helper.make_node("Squeeze", ["Y_h", "axis0"], ["last"]), helper.make_node("MatMul", ["last", "Wm"], ["y"])]
    inits = [_w("W", 1, f, 4 * h), _w("R", 1, h, 4 * h), numpy_helper.from_array(np.array([0], np.int64), "axis0"), _w("Wm", h, 4)]
    graph = helper.make_graph(nodes, "g", [_vi("x", "time", "batch", f)], [_vi("y", "batch", 4)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    count = count_flops(model, {"time": t, "batch": b})
    assert count.complete, count.uncounted_ops
    assert count.per_op_type["MatMul"] == 2 * b * 4 * h
    assert count.per_op_type["com.microsoft.DynamicQuantizeLSTM"] == (2 * b * 4 * h * (f + h) + b * h * (4 + 5)) * t
