"""Hostile model files: every route to external data, path tricks, odd files and malformed fields.

Each case must end in a one-line `ModelRejected` naming the tensor and the reason (or run and give
the right numbers), never an exception from deep inside protobuf, onnx or onnxruntime.
"""

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
X = np.ones((2, 4), np.float32)


def _escaping(name: str, dtype: np.dtype = np.float32, count: int = 16) -> TensorProto:
    """A tensor of 64 bytes whose data is '../outside.bin'."""
    return point_external(numpy_helper.from_array(np.zeros(count, dtype), name))


def _matmul(initializer: TensorProto | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [initializer if initializer is not None else numpy_helper.from_array(W, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _with_nodes(nodes: list[onnx.NodeProto], functions=(), training=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    model.ir_version = 8
    model.functions.extend(functions)
    model.training_info.extend(training)
    return model


def _body(tensor: TensorProto) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", [tensor.name], ["b"])], "body", [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)], [tensor],
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(W.tobytes())
    (tmp_path / "outside.bin").write_bytes(W.tobytes())
    return tmp_path / "model"


def _save(folder: Path, model: onnx.ModelProto, name: str = "m.onnx") -> Path:
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def _rejected(source: object, *needles: str, **kwargs: object) -> str:
    with pytest.raises(ModelRejected) as info:
        Runtime(source, "cpu", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message and len(message) < 700, message
    return message


# ------------------------------------------------------------------ every route to external data


def _sparse(values: TensorProto, indices: TensorProto) -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(values, indices, [16])


ROUTES = {
    "sparse initializer values": lambda: _with_nodes([helper.make_node("Identity", ["sp"], ["o"])]),
    "Constant sparse_value indices": lambda: _with_nodes([helper.make_node(
        "Constant", [], ["o"], name="k",
        sparse_value=_sparse(numpy_helper.from_array(np.ones(8, np.float32), "v"), _escaping("i", np.int64, 8)))]),
    "Scan body initializer": lambda: _with_nodes([helper.make_node(
        "Scan", ["c"], ["o"], name="scan", num_scan_inputs=1, body=_body(_escaping("scanw")))]),
    "GRAPHS attribute list": lambda: _with_nodes([helper.make_node(
        "Custom", ["c"], ["o"], name="multi", domain="local", branches=[_body(numpy_helper.from_array(W, "ok")), _body(_escaping("gw"))])]),
    "TENSORS attribute list": lambda: _with_nodes([helper.make_node(
        "Custom", ["c"], ["o"], name="many", domain="local", weights=[numpy_helper.from_array(W, "a"), _escaping("tw")])]),
    "tensor on a non-tensor attribute": lambda: _tensor_on_int_attribute(),
    "If inside Loop inside Scan": lambda: _with_nodes([helper.make_node(
        "Scan", ["c"], ["o"], name="s1", num_scan_inputs=1, body=helper.make_graph(
            [helper.make_node("Loop", ["", "c"], ["b"], name="l2", body=helper.make_graph(
                [helper.make_node("If", ["c"], ["b"], name="i3",
                                  then_branch=_body(_escaping("deep")), else_branch=_body(numpy_helper.from_array(W, "fine")))],
                "loop", [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)]))],
            "scan", [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)]))]),
    "function default attribute": lambda: _with_nodes(
        [helper.make_node("f", ["c"], ["o"], domain="local")], functions=[_function_with_default()]),
    "function subgraph": lambda: _with_nodes(
        [helper.make_node("f", ["c"], ["o"], domain="local")], functions=[helper.make_function(
            "local", "f", ["c"], ["o"], [helper.make_node("If", ["c"], ["o"], name="fif", then_branch=_body(_escaping("fw")),
                                                        else_branch=_body(numpy_helper.from_array(W, "e")))],
            [helper.make_opsetid("", 17)])]),
    "training graph": lambda: _with_nodes(
        [helper.make_node("Identity", ["c"], ["o"])],
        training=[onnx.TrainingInfoProto(initialization=_body(_escaping("tr")))]),
}


def _tensor_on_int_attribute() -> onnx.ModelProto:
    node = helper.make_node("Custom", ["c"], ["o"], name="sneaky", domain="local", axis=1)
    node.attribute[0].t.CopyFrom(_escaping("hidden"))  # declared INT, yet carries a tensor
    return _with_nodes([node])


def _function_with_default() -> onnx.FunctionProto:
    function = helper.make_function("local", "f", ["c"], ["o"], [helper.make_node("Identity", ["c"], ["o"])],
                                    [helper.make_opsetid("", 17)])
    function.attribute_proto.append(helper.make_attribute("w", _escaping("fdefault")))
    return function


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_to_external_data_is_checked(folder: Path, route: str) -> None:
    model = ROUTES[route]()
    if route == "sparse initializer values":
        model.graph.sparse_initializer.append(_sparse(_escaping("sp"), numpy_helper.from_array(np.arange(16, dtype=np.int64), "idx")))
    message = _rejected(_save(folder, model), "climbs out of the model's folder")
    assert str(folder / "m.onnx") in message  # the file is named too


def test_route_labels_name_the_path_through_subgraphs(folder: Path) -> None:
    message = _rejected(_save(folder, ROUTES["If inside Loop inside Scan"]()), "'deep'")
    assert "node 's1' (Scan) attribute 'body' > node 'l2' (Loop) attribute 'body' > node 'i3' (If)" in message
    message = _rejected(_save(folder, ROUTES["GRAPHS attribute list"]()), "'gw'")
    assert "attribute 'branches'[1] > initializer 'gw'" in message
    message = _rejected(_save(folder, ROUTES["function default attribute"]()), "'w'")
    assert "function 'f' > default attribute 'w'" in message


# ------------------------------------------------------------------ path tricks


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        (".", "names no file"),
        ("./", "names no file"),
        ("sub", "is not a regular file"),  # a folder
        ("fifo", "is not a regular file"),
        ("/dev/zero", "is absolute"),
        ("//server/share/w.bin", "is absolute"),
        ("C:w.bin", "is absolute"),
        ("a/../../outside.bin", "climbs out"),
        ("..\\outside.bin", "climbs out"),
        ("sub\\w.bin", "contains a backslash; use '/'"),
        ("w.bin\x00../../etc/passwd", "NUL byte"),
        ("file:///etc/passwd", "does not exist"),
        ("a" * 5000, "File name too long"),
        ("/".join(["d" * 200] * 30), "does not exist"),
    ],
)
def test_path_tricks(folder: Path, location: str, reason: str) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "w.bin").write_bytes(W.tobytes())
    os.mkfifo(folder / "fifo")  # reading it would block forever
    _rejected(_save(folder, _matmul(point_external(numpy_helper.from_array(W, "W"), location))), "'W'", reason)


def test_backslash_name_cannot_smuggle_a_hard_link(folder: Path) -> None:
    # On POSIX "sub\\w.bin" is one file name. Checking "sub/w.bin" (a good file) instead would
    # let onnxruntime read the file named "sub\\w.bin": here a hard link to a file outside the
    # folder, which onnxruntime 1.32 reads (checked: the product came out 100x).
    (folder / "sub").mkdir()
    (folder / "sub" / "w.bin").write_bytes(W.tobytes())
    (folder.parent / "outside.bin").write_bytes((W * 100).tobytes())
    os.link(folder.parent / "outside.bin", folder / "sub\\w.bin")
    _rejected(_save(folder, _matmul(point_external(numpy_helper.from_array(W, "W"), "sub\\w.bin"))), "contains a backslash")


def test_hostile_names_are_cut_short(folder: Path) -> None:
    tensor = point_external(numpy_helper.from_array(W, "W" * 100_000), "../" + "x" * 100_000)
    message = _rejected(_save(folder, _matmul(tensor)), "climbs out")
    assert len(message) < 500


def test_good_variants_run(folder: Path) -> None:
    # Leading zeros, './', a checksum entry and a model folder reached through a symlink are fine.
    tensor = point_external(numpy_helper.from_array(W, "W"), "./w.bin", offset="000", length="0064", checksum="abc")
    path = _save(folder, _matmul(tensor))
    np.testing.assert_array_equal(Runtime(path, "cpu").run({"x": X})["y"], X @ W)
    os.symlink(folder, folder.parent / "linked")
    np.testing.assert_array_equal(Runtime(folder.parent / "linked" / "m.onnx", "cpu").run({"x": X})["y"], X @ W)
    # A parsed ModelProto is checked like bytes: external data needs base_dir.
    proto = onnx.load(path, load_external_data=False)
    np.testing.assert_array_equal(Runtime(proto, "cpu", base_dir=folder).run({"x": X})["y"], X @ W)
    _rejected(proto, "without base_dir")


# ------------------------------------------------------------------ malformed fields


def test_malformed_tensor_fields(folder: Path) -> None:
    tensor = point_external(numpy_helper.from_array(W, "W"), "w.bin")
    tensor.data_type = 999
    _rejected(_save(folder, _matmul(tensor)), "'W'", "unknown data type 999")
    tensor.data_type = TensorProto.UNDEFINED
    _rejected(_save(folder, _matmul(tensor)), "'W'", "unknown data type 0")
    tensor = numpy_helper.from_array(W, "W")
    entry = tensor.external_data.add()  # entries on a tensor not marked EXTERNAL
    entry.key, entry.value = "location", "../outside.bin"
    _rejected(_save(folder, _matmul(tensor)), "'W'", "not marked as external data")
    tensor = point_external(numpy_helper.from_array(W, "W"), "w.bin")
    tensor.dims[:] = [2**62, 2**62, 16]  # the element count overflows int64
    _rejected(_save(folder, _matmul(tensor)), "'W'", "over the cap")
    tensor.dims[:] = [2**32, 2**32, 0]  # zero elements, yet 64 bytes of data
    _rejected(_save(folder, _matmul(tensor)), "'W'", "does not match the declared shape")
    tensor.dims[:] = [4, -4]
    _rejected(_save(folder, _matmul(tensor)), "'W'", "negative dimension")


def test_odd_model_files(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.onnx")
    _rejected(tmp_path / "fifo.onnx", "not a regular file")
    _rejected("/dev/zero", "not a regular file")  # would never finish reading
    _rejected(str(tmp_path / "a\x00b.onnx"), "NUL byte")
    import pickle
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.onnx", "w") as archive:
        archive.writestr("model.onnx", _matmul().SerializeToString())
    (tmp_path / "pickle.onnx").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    (tmp_path / "utf.onnx").write_bytes("ünïcödé\n".encode())
    for name in ("zip.onnx", "pickle.onnx", "utf.onnx"):
        _rejected(tmp_path / name, "not an ONNX model")
    with pytest.raises(ModelRejected, match="base_dir must be a folder path"):
        load_model_safely(_matmul().SerializeToString(), base_dir=5)  # type: ignore[arg-type]
