"""Hostile-world reliability of the runtime: no model, input or option ends the host process, every
string is decoded safely, resources are bounded, casts never invent values; and the life cycle
(`warmup`, `close`, `with`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ortkit.base import UsageError
from ortkit.runtime import THREADS_PER_CORE, InputError, ModelRejected, ProviderUnavailable, RunFailed, Runtime
from ortkit.runtime._files import random_inputs
from ortkit.runtime._limits import usable_cores
from tests.runtime.conftest import gru_model, mlp_model, two_input_model

HIDDEN = 4


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _weights(op: str, features: int = 3) -> list[TensorProto]:
    gates = {"GRU": 3, "LSTM": 4, "RNN": 1}[op]
    return [numpy_helper.from_array(np.full((1, gates * HIDDEN, features), 0.1, np.float32), "W"),
            numpy_helper.from_array(np.full((1, gates * HIDDEN, HIDDEN), 0.1, np.float32), "R")]


def lstm_declared_zero() -> onnx.ModelProto:
    """An LSTM whose input declares a fixed dim of 0."""
    return _finish(helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R"], ["Y"], hidden_size=HIDDEN)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", 0, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], _weights("LSTM")))


def _empty_slice(source: str, target: str) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    consts = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s0", 0), ("e0", 0), ("a0", 0))]
    return [helper.make_node("Slice", [source, "s0", "e0", "a0"], [target])], consts


def gru_after_empty_slice() -> onnx.ModelProto:
    """A GRU fed by a Slice that empties the tensor inside the graph."""
    nodes, consts = _empty_slice("x", "xs")
    return _finish(helper.make_graph(
        nodes + [helper.make_node("GRU", ["xs", "W", "R"], ["Y"], hidden_size=HIDDEN)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], _weights("GRU") + consts))


def gru_in_subgraph() -> onnx.ModelProto:
    """If ``c``: a GRU on an emptied tensor inside a subgraph (the load-time check does not follow
    subgraphs); else: Identity. Only isolation protects the host from the first branch."""
    nodes, consts = _empty_slice("x", "xs")
    then = helper.make_graph(nodes + [helper.make_node("GRU", ["xs", "W", "R"], ["Y"], hidden_size=HIDDEN),
                                      helper.make_node("ReduceSum", ["Y"], ["o"], keepdims=0)], "then", [],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["o2"], keepdims=0)], "else", [],
                              [helper.make_tensor_value_info("o2", TensorProto.FLOAT, None)])
    return _finish(helper.make_graph(
        [helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=other)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 3]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], _weights("GRU") + consts))


def long_loop() -> onnx.ModelProto:
    """A Loop of 2**62 iterations: a model that never finishes."""
    body = helper.make_graph([helper.make_node("Add", ["v", "one_f"], ["v_out"]),
                              helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
                             [numpy_helper.from_array(np.ones(1, np.float32), "one_f")])
    inits = [numpy_helper.from_array(np.array(2**62, np.int64), "M"), numpy_helper.from_array(np.array(True), "T")]
    return _finish(helper.make_graph(
        [helper.make_node("Loop", ["M", "T", "x"], ["y"], body=body)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits))


def _aborts_raw(model: onnx.ModelProto, feed: str, tmp_path: Path) -> int:
    """Run ``model`` with plain onnxruntime in a child; its exit status (negative: a signal)."""
    path = tmp_path / "raw.onnx"
    onnx.save(model, path)
    code = textwrap.dedent(f"""
        import numpy as np, onnxruntime as ort
        s = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
        s.run(None, {feed})
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode


# ----------------------------------------------------------------- 1. no aborts
def test_declared_zero_dim_into_lstm_is_rejected_at_load() -> None:
    with pytest.raises(ModelRejected, match=r"LSTM node .* empty tensor 'x' of shape \(time, 0, 3\)"):
        Runtime(lstm_declared_zero(), "cpu")


def test_slice_that_empties_a_gru_input_is_refused_before_onnxruntime_runs(tmp_path: Path) -> None:
    model = gru_after_empty_slice()
    # Why the check exists: plain onnxruntime ends the process on this model.
    assert _aborts_raw(model, "{'x': np.ones((2, 1, 3), np.float32)}", tmp_path) < 0
    rt = Runtime(model, "cpu")
    with pytest.raises(RunFailed, match=r"GRU node .* empty tensor 'xs' of shape \(0, 1, 3\) for inputs x\(2, 1, 3\)"):
        rt.run({"x": np.ones((2, 1, 3), np.float32)})
    with pytest.raises(RunFailed):  # the cached answer for the same shapes
        rt.run({"x": np.ones((2, 1, 3), np.float32)})


def test_recurrent_models_with_input_dims_need_no_per_call_inference() -> None:
    rt = Runtime(gru_model().SerializeToString(), "cpu")
    assert rt._guard.nodes and not rt._guard.per_call


def test_isolation_turns_an_onnxruntime_abort_into_run_failed_and_recovers(tmp_path: Path) -> None:
    model = gru_in_subgraph()
    x = np.ones((2, 1, 3), np.float32)
    assert _aborts_raw(model, "{'x': np.ones((2, 1, 3), np.float32), 'c': np.array(True)}", tmp_path) < 0
    with Runtime(model, "cpu", isolate=True) as rt:
        assert [i.name for i in rt.inputs] == ["x", "c"]
        with pytest.raises(RunFailed, match="ended the isolated process .*SIGABRT.*the application is unaffected"):
            rt.run({"x": x, "c": np.array(True)})
        # The next call starts a new child.
        assert float(rt.run({"x": x, "c": np.array(False)})["out"]) == pytest.approx(6.0)


def test_isolated_runtime_matches_the_in_process_one() -> None:
    data = gru_model().SerializeToString()
    feed = {"x": np.random.default_rng(0).standard_normal((2, 5, 5)).astype(np.float32),
            "h": np.zeros((2, 1, 16), np.float32)}
    local = Runtime(data, "cpu")
    with Runtime(data, "cpu", isolate=True) as isolated:
        assert isolated.inputs == local.inputs and isolated.outputs == local.outputs
        assert isolated.providers == local.providers and isolated.metadata == local.metadata
        for name, value in local.run(feed).items():
            np.testing.assert_array_equal(isolated.run(feed)[name], value)
        with pytest.raises(InputError, match="expected dim 2 = 5"):  # checked in the host
            isolated.run({**feed, "x": np.ones((2, 5, 4), np.float32)})
        with pytest.raises(RunFailed, match="isolated"):
            _ = isolated.session


def test_isolated_load_failure_is_model_rejected() -> None:
    model = mlp_model()
    model.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(ModelRejected, match="NoSuchOp"):
        Runtime(model, "cpu", isolate=True)


def test_isolation_timeout_stops_a_run_that_never_ends() -> None:
    with Runtime(long_loop(), "cpu", isolate=True, timeout=3) as rt:
        with pytest.raises(RunFailed, match="did not finish running .* within 3 s"):
            rt.run({"x": np.zeros(1, np.float32)})


# ----------------------------------------------------------------- 2. strings
def _with_bad_utf8(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString().replace(b"QZXJQ", b"\xff\xfeQ\xc3(")


def _set(field: str, model: onnx.ModelProto) -> None:
    g = model.graph
    if field == "dim_param":
        g.input[0].type.tensor_type.shape.dim[0].dim_param = "QZXJQ"
    elif field == "graph name":
        g.name = "QZXJQ"
    elif field == "node name":
        g.node[1].name = "QZXJQ"
    elif field == "metadata":
        model.metadata_props.add(key="k", value="QZXJQ")
    elif field == "doc_string":
        g.node[0].doc_string = "QZXJQ"
    elif field == "external location":
        g.initializer[0].data_location = TensorProto.EXTERNAL
        g.initializer[0].external_data.add(key="location", value="QZXJQ")
    elif field == "op_type":
        g.node[2].op_type = "QZXJQ"


@pytest.mark.parametrize(("field", "path"), [
    ("dim_param", "model.graph.input[0] (x).type.tensor_type.shape.dim[0].dim_param"),
    ("graph name", "model.graph.name"),
    ("node name", "model.graph.node[1].name"),
    ("metadata", "model.metadata_props[1] (k).value"),
    ("doc_string", "model.graph.node[0].doc_string"),
    ("external location", "model.graph.initializer[0] (W).external_data[0] (location).value"),
    ("op_type", "model.graph.node[2] (?).op_type"),
])
def test_invalid_utf8_anywhere_is_model_rejected_naming_the_field(field: str, path: str) -> None:
    model = mlp_model()
    _set(field, model)
    with pytest.raises(ModelRejected) as caught:
        Runtime(_with_bad_utf8(model), "cpu")
    message = str(caught.value)
    assert "is not valid UTF-8" in message and "\n" not in message
    assert path.split(" (")[0].split(".")[-1] in message and message.split(": ")[1].startswith(path.split(".")[0])


# ----------------------------------------------------------------- 3. resources
def test_threads_are_capped_at_a_multiple_of_the_cores() -> None:
    data = mlp_model().SerializeToString()
    limit = THREADS_PER_CORE * usable_cores()
    with pytest.raises(ProviderUnavailable, match=rf"threads=100000 is more than {limit} .*pass max_threads"):
        Runtime(data, "cpu", threads=100000)
    with pytest.raises(ProviderUnavailable, match=f"threads={limit + 1} is more than"):
        Runtime(data, "cpu", threads=limit + 1)
    assert Runtime(data, "cpu", threads=limit + 1, max_threads=limit + 1).run(np.ones((1, 4), np.float32))
    with pytest.raises(ProviderUnavailable, match="max_threads must be a positive integer"):
        Runtime(data, "cpu", max_threads=0)


def test_random_inputs_are_capped_in_total_not_only_per_input() -> None:
    rt = Runtime(two_input_model(), "cpu")
    shapes = {"x": (1, 1000, 8), "s": (1, 1, 8), "t": (3,)}
    assert random_inputs(rt.inputs, shapes, max_bytes=40_000)
    with pytest.raises(UsageError, match="would bring the random inputs to"):
        random_inputs(rt.inputs, {**shapes, "x": (1, 1250, 8)}, max_bytes=40_000)


# ----------------------------------------------------------------- 4. casts
@pytest.mark.parametrize(("value", "dtype", "needle"), [
    (np.array([2**64 - 1, 0, 0], np.uint64), "int64", r"18446744073709551615 is out of the range of int64 \[-9223372036854775808, 9223372036854775807\]"),
    (np.array([1e30, 0.0, 0.0]), "int64", r"1e\+30 is out of the range of int64"),
    (np.array([-(2.0**63) * 2, 0.0, 0.0]), "int64", r"-1.8446744073709552e\+19 is out of the range of int64"),
    (np.array([2.0**63, 0.0, 0.0]), "int64", r"9.223372036854776e\+18 is out of the range of int64"),
    (np.array([2.5, 0.0, 0.0]), "int64", "2.5 is not a whole number"),
    (np.array([np.inf, 0.0, 0.0]), "int64", "cannot cast inf to int64"),
    (np.array([-1, 0, 0], np.int64), "uint8", r"-1 is out of the range of uint8 \[0, 255\]"),
    (np.array([1e5, 0.0, 0.0]), "float16", r"100000.0 is out of the range of float16"),
])
def test_casts_never_invent_values(value: np.ndarray, dtype: str, needle: str) -> None:
    from ortkit.runtime._inputs import InputPlan, TensorInfo

    plan = InputPlan([TensorInfo("t", dtype, (3,))])
    with pytest.raises(InputError, match=needle):
        plan.feed({"t": value}, True)


def test_casts_keep_values_that_fit_exactly() -> None:
    from ortkit.runtime._inputs import InputPlan, TensorInfo

    plan = InputPlan([TensorInfo("t", "int64", (3,))])
    fed = plan.feed({"t": np.array([-(2.0**63), 2.0**62, 3.0])}, True)["t"]
    assert fed.tolist() == [-(2**63), 2**62, 3]
    small = InputPlan([TensorInfo("t", "int8", (3,))]).feed({"t": np.array([-128.0, 127.0, 0.0])}, True)["t"]
    assert small.tolist() == [-128, 127, 0]
    rt = Runtime(two_input_model(), "cpu")
    out = rt.run({"x": np.ones((1, 1, 8), np.float32), "s": np.ones((1, 1, 8), np.float32),
                  "t": np.array([5, 1, 1], np.uint64)}, cast=True)
    assert int(out["n"]) == 7


# ----------------------------------------------------------------- 6. life cycle
def test_warmup_close_and_context_manager() -> None:
    data = gru_model().SerializeToString()
    rt = Runtime(data, "cpu")
    rt.warmup()
    rt.warmup({"batch": 2, "time": 7}, runs=2)
    with pytest.raises(UsageError, match="would take"):
        rt.warmup({"time": 10**12})
    rt.close()
    rt.close()  # harmless
    assert rt.closed
    with pytest.raises(RunFailed, match="the runtime is closed; create a new Runtime"):
        rt.run({"x": np.ones((1, 2, 5), np.float32), "h": np.zeros((1, 1, 16), np.float32)})
    with pytest.raises(RunFailed, match="closed"):
        _ = rt.session
    with Runtime(data, "cpu") as inside:
        inside.warmup()
    assert inside.closed
    with Runtime(data, "cpu", isolate=True) as isolated:
        isolated.warmup()
        process = isolated._isolated._process
    assert process.poll() is not None  # the child is gone after close


# ----------------------------------------------------------------- the CLI
def test_cli_run_and_inspect_survive_hostile_models(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ortkit.cli._main import cli as main

    sliced = tmp_path / "sliced.onnx"
    onnx.save(gru_in_subgraph(), sliced)
    np.save(tmp_path / "c.npy", np.array(True))
    bad = tmp_path / "bad.onnx"
    model = mlp_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "QZXJQ"
    bad.write_bytes(_with_bad_utf8(model))
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(sliced), "-s", "time=2", "-s", "batch=1", "-i", f"c={tmp_path / 'c.npy'}", "--ep", "cpu"])
    assert result.exit_code == 1, result.output
    assert "ended the isolated process" in result.output and "Traceback" not in result.output
    for command in (["run", str(bad)], ["inspect", str(bad)]):
        result = runner.invoke(main, command)
        assert result.exit_code == 1 and "is not valid UTF-8" in result.output, result.output
        assert "Traceback" not in result.output


def test_negative_declared_dim_is_rejected_before_shape_inference() -> None:
    # onnx's Slice shape inference asserts (aborts) on this; found by the long fuzz run.
    model = gru_after_empty_slice()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    with pytest.raises(ModelRejected, match=r"dim\[0\] is -1; a declared dim cannot be negative"):
        Runtime(model, "cpu")


def test_isolated_stream_and_threads_match_in_process() -> None:
    import threading

    data = gru_model().SerializeToString()
    x = np.random.default_rng(1).standard_normal((1, 6, 5)).astype(np.float32)
    expected = Runtime(data, "cpu").stream().push(x)["y"]
    with Runtime(data, "cpu", isolate=True) as rt:
        stream = rt.stream()
        got = np.concatenate([stream.push(x[:, :3])["y"], stream.push(x[:, 3:])["y"]], axis=1)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        results: list[np.ndarray] = []
        feed = {"x": x, "h": np.zeros((1, 1, 16), np.float32)}
        threads = [threading.Thread(target=lambda: results.append(rt.run(feed)["y"])) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)
