"""Safe loading: every external-data reference is checked before onnxruntime opens anything."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from ortkit.runtime import ModelRejected, Runtime, load_model_safely

from .conftest import point_external

W = np.arange(16, dtype=np.float32).reshape(4, 4)


def _matmul_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(W, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """tmp/model/ holds the model and w.bin; tmp/outside.bin is a file outside its folder."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(W.tobytes())
    (tmp_path / "outside.bin").write_bytes(W.tobytes())
    return tmp_path / "model"


def _write(folder: Path, model: onnx.ModelProto) -> Path:
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _model_with_location(folder: Path, location: str, **extra: str) -> Path:
    model = _matmul_model()
    point_external(model.graph.initializer[0], location, **extra)
    return _write(folder, model)


def _rejected(path_or_bytes: object, *needles: str, **kwargs: object) -> str:
    with pytest.raises(ModelRejected) as info:
        Runtime(path_or_bytes, "cpu", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message
    return message


def test_valid_external_data_runs(folder: Path) -> None:
    path = _model_with_location(folder, "w.bin", offset="0", length="64")
    rt = Runtime(path, "cpu")
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(rt.run({"x": x})["y"], x @ W)


def test_bytes_with_base_dir_runs_and_without_is_rejected(folder: Path) -> None:
    data = _model_with_location(folder, "w.bin").read_bytes()
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(Runtime(data, "cpu", base_dir=folder).run({"x": x})["y"], x @ W)
    _rejected(data, "'W'", "without base_dir")


@pytest.mark.parametrize(
    ("location", "reason"),
    [("../outside.bin", "'..'"), ("sub/../../outside.bin", "'..'"), ("", "without a location"), ("missing.bin", "does not exist")],
)
def test_bad_locations(folder: Path, location: str, reason: str) -> None:
    _rejected(_model_with_location(folder, location), "'W'", reason)


def test_absolute_location(folder: Path) -> None:
    _rejected(_model_with_location(folder, str(folder.parent / "outside.bin")), "'W'", "absolute")
    _rejected(_model_with_location(folder, "C:\\\\x\\\\w.bin"), "'W'", "absolute")


def test_symlinked_file_even_inside_the_folder(folder: Path) -> None:
    os.symlink(folder / "w.bin", folder / "link.bin")  # onnxruntime alone accepts this one
    _rejected(_model_with_location(folder, "link.bin"), "'W'", "symlink")
    os.symlink(folder.parent / "outside.bin", folder / "out.bin")
    _rejected(_model_with_location(folder, "out.bin"), "'W'", "symlink")


def test_symlinked_directory_component(folder: Path) -> None:
    (folder.parent / "elsewhere").mkdir()
    (folder.parent / "elsewhere" / "w.bin").write_bytes(W.tobytes())
    os.symlink(folder.parent / "elsewhere", folder / "sub")
    _rejected(_model_with_location(folder, "sub/w.bin"), "'W'", "symlink (sub)")


def test_hard_link_is_rejected(folder: Path) -> None:
    os.link(folder.parent / "outside.bin", folder / "hard.bin")  # onnxruntime 1.32 reads this
    _rejected(_model_with_location(folder, "hard.bin"), "'W'", "2 hard links")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"offset": "1000"}, "is past the end"),
        ({"offset": str(2**63)}, "is past the end"),
        ({"offset": str(2**70)}, "non-negative integer"),
        ({"length": str(2**64 + 64)}, "runs past the end"),
        ({"offset": "1", "length": str(2**64 - 1)}, "runs past the end"),
        ({"offset": "+0"}, "non-negative integer"),
        ({"offset": " 0"}, "non-negative integer"),
        ({"offset": "0.0"}, "non-negative integer"),
        ({"offset": "\u0660"}, "non-negative integer"),  # an Arabic-Indic zero: isdigit() but not ASCII
        ({"length": ""}, "non-negative integer"),
        ({"offset": "32", "length": "64"}, "runs past the end"),
        ({"length": "32"}, "does not match the declared shape"),
        ({"offset": "-1"}, "non-negative integer"),
        ({"offset": "abc"}, "non-negative integer"),
        ({"length": "1e3"}, "non-negative integer"),
        ({"basepath": "/etc"}, "unknown external-data key 'basepath'"),
        ({"evil": "1"}, "unknown external-data key 'evil'"),
    ],
)
def test_offsets_lengths_and_keys(folder: Path, extra: dict[str, str], reason: str) -> None:
    _rejected(_model_with_location(folder, "w.bin", **extra), "'W'", reason)


def _constant(name: str, tensor: TensorProto | None = None, sparse: onnx.SparseTensorProto | None = None) -> onnx.NodeProto:
    if sparse is not None:
        return helper.make_node("Constant", [], [name], name=name, sparse_value=sparse)
    return helper.make_node("Constant", [], [name], name=name, value=tensor)


def _escaping(name: str) -> TensorProto:
    tensor = numpy_helper.from_array(W, name)
    point_external(tensor, "../outside.bin")
    return tensor


def _graph_model(nodes: list[onnx.NodeProto], outputs: list[str], initializers=(), sparse=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], list(initializers),
        sparse_initializer=list(sparse),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _branch(nodes: list[onnx.NodeProto], output: str, initializers=()) -> onnx.GraphProto:
    return helper.make_graph(nodes, "branch", [], [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], list(initializers))


def test_constant_value_attribute(folder: Path) -> None:
    model = _graph_model([_constant("k", _escaping("kvalue"))], ["k"])
    _rejected(_write(folder, model), "node 'k' (Constant) attribute 'value'", "'..'")


def test_constant_sparse_value_attribute(folder: Path) -> None:
    values = _escaping("sv")
    values.dims[:] = [16]
    indices = numpy_helper.from_array(np.arange(16, dtype=np.int64), "si")
    sparse = helper.make_sparse_tensor(values, indices, [16])
    model = _graph_model([_constant("s", sparse=sparse)], ["s"])
    _rejected(_write(folder, model), "attribute 'sparse_value' values", "'..'")


def test_sparse_initializer(folder: Path) -> None:
    values = numpy_helper.from_array(np.ones(16, np.float32), "sp")
    indices = _escaping("sp_idx")
    indices.data_type = TensorProto.INT64
    indices.dims[:] = [8]  # 8 x int64 = 64 bytes, the size of outside.bin
    sparse = helper.make_sparse_tensor(values, indices, [16])
    model = _graph_model([helper.make_node("Identity", ["sp"], ["o"])], ["o"], sparse=[sparse])
    _rejected(_write(folder, model), "sparse initializer 'sp' indices", "'..'")


def test_if_branch_initializer(folder: Path) -> None:
    then = _branch([helper.make_node("Identity", ["bw"], ["t"])], "t", [_escaping("bw")])
    other = _branch([helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(W, "ev"))], "e")
    node = helper.make_node("If", ["c"], ["o"], name="cond", then_branch=then, else_branch=other)
    _rejected(_write(folder, _graph_model([node], ["o"])), "node 'cond' (If) attribute 'then_branch' > initializer 'bw'", "'..'")


def test_loop_body_nested_in_scan_in_if(folder: Path) -> None:
    body = helper.make_graph(
        [_constant("deep", _escaping("deepw"))], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("deep", TensorProto.FLOAT, None)],
    )
    loop = helper.make_node("Loop", ["", "c"], ["lo"], name="loop", body=body)
    then = _branch([loop], "lo")
    other = _branch([helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(W, "ev"))], "e")
    node = helper.make_node("If", ["c"], ["o"], name="outer", then_branch=then, else_branch=other)
    message = _rejected(_write(folder, _graph_model([node], ["o"])), "'deep'", "'..'")
    assert "node 'outer' (If)" in message and "node 'loop' (Loop) attribute 'body'" in message


def test_model_local_function_constant(folder: Path) -> None:
    function = helper.make_function("local", "f", [], ["k"], [_constant("k", _escaping("fk"))], [helper.make_opsetid("", 17)])
    model = _graph_model([helper.make_node("f", [], ["o"], domain="local")], ["o"])
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("local", 1))
    _rejected(_write(folder, model), "function 'f'", "'..'")


def test_declared_size_is_capped(folder: Path) -> None:
    model = _matmul_model()
    model.graph.initializer[0].dims[:] = [2**20, 2**20]  # 4 TiB of float32
    _rejected(_write(folder, model), "'W'", "over the cap")
    model = _matmul_model()
    point_external(model.graph.initializer[0], "w.bin")
    path = _write(folder, model)
    with pytest.raises(ModelRejected, match="over the cap"):
        load_model_safely(path, max_tensor_bytes=32)
    with pytest.raises(ModelRejected, match="totals more than"):
        load_model_safely(path, max_external_bytes=32)


def test_garbage_truncated_and_empty_files(tmp_path: Path) -> None:
    good = _matmul_model().SerializeToString()
    rng = np.random.default_rng(0)
    samples = [b"", b"hello, I am not a model\n", rng.bytes(4096), b"\x08" * 100, b"\xff" * 37]
    samples += [good[:cut] for cut in (1, 2, 10, len(good) // 3, len(good) // 2, len(good) - 1)]
    for i, data in enumerate(samples):
        path = tmp_path / f"bad{i}.onnx"
        path.write_bytes(data)
        for source in (path, data):
            with pytest.raises(ModelRejected):
                Runtime(source, "cpu")


def test_missing_file_folder_and_wrong_type(tmp_path: Path) -> None:
    _rejected(tmp_path / "nope.onnx", "not found")
    _rejected(tmp_path, "folder")
    _rejected(12345, "must be a path, bytes or an onnx.ModelProto")
