"""Load an ONNX model so that onnxruntime never opens a file it should not.

Every tensor that can carry external data is checked before onnxruntime sees the model:
initializers, sparse initializers (values and indices), Constant-style tensor attributes
(``value``, ``sparse_value``, any TENSOR/TENSORS/SPARSE_TENSOR attribute) and all of these inside
subgraphs (If/Loop/Scan bodies, nested to any depth), model-local functions and training graphs.
onnxruntime 1.32 on its own reads a hard-linked external file and follows symlinks inside the model
folder (checked with onnxruntime 1.32), so each reference must:

- be a relative path with no ``..`` component, resolving inside the model's folder;
- pass through no symlink (every component is checked with ``lstat``);
- name a regular file with exactly one hard link;
- have an ``offset``/``length`` inside that file, matching the tensor's declared size;
- use only the keys ``location``, ``offset``, ``length`` and ``checksum``.

Declared tensor sizes are capped (``max_tensor_bytes``, ``max_external_bytes``). The bytes that
were checked are the bytes handed to onnxruntime (never the path, which could change in between).
"""

from __future__ import annotations

import math
import ntpath
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import GraphProto, ModelProto, SparseTensorProto, TensorProto

from ortkit.runtime._errors import ModelRejected
from ortkit.runtime._strings import check_strings

__all__ = ["SafeModel", "load_model_safely", "MAX_TENSOR_BYTES", "MAX_EXTERNAL_BYTES"]

MAX_TENSOR_BYTES = 16 * 2**30
MAX_EXTERNAL_BYTES = 64 * 2**30
_PROTOBUF_LIMIT = 2**31 - 1
_ALLOWED_KEYS = frozenset({"location", "offset", "length", "checksum"})
_HALF_BYTE_TYPES = {
    getattr(TensorProto, name) for name in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(TensorProto, name)
}


@dataclass(frozen=True)
class SafeModel:
    """A model that passed the checks: its parsed proto, the exact bytes to give onnxruntime and
    the folder its external data lives in (None when it has none)."""

    proto: ModelProto
    data: bytes
    path: Path | None
    external_dir: Path | None
    external_bytes: int


def load_model_safely(
    model: str | os.PathLike[str] | bytes | ModelProto,
    base_dir: str | os.PathLike[str] | None = None,
    *,
    max_tensor_bytes: int = MAX_TENSOR_BYTES,
    max_external_bytes: int = MAX_EXTERNAL_BYTES,
) -> SafeModel:
    """Read and check a model without loading its external data.

    Args:
        model: a path to an ``.onnx`` file, its bytes, or a parsed ``onnx.ModelProto`` (checked
            the same way: its external data is relative to ``base_dir``).
        base_dir: the folder external data is relative to; defaults to the model file's folder.
            Needed when ``model`` is bytes that reference external data.
        max_tensor_bytes: the largest size one tensor may declare.
        max_external_bytes: the largest total of external data.

    Returns:
        A `SafeModel`.

    Raises:
        ModelRejected: unreadable or non-ONNX bytes, or an unsafe external-data reference (the
            message names the tensor and the reason).
    """
    path: Path | None = None
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        where = "model bytes"
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        where = str(path)
        data = _read_model_file(path)
    elif isinstance(model, ModelProto):
        try:
            data = model.SerializeToString()
        except Exception as error:  # protobuf refuses messages over 2 GiB
            raise ModelRejected(f"cannot serialize the ModelProto: {error}") from None
        where = "model proto"
    else:
        raise ModelRejected(f"model must be a path, bytes or an onnx.ModelProto, got {type(model).__name__}")
    if len(data) > _PROTOBUF_LIMIT:
        raise ModelRejected(
            f"{where} is {len(data)} bytes, over protobuf's 2 GiB limit; models this large keep their "
            "weights in external data files"
        )
    if base_dir is not None and not isinstance(base_dir, (str, os.PathLike)):
        raise ModelRejected(f"base_dir must be a folder path, got {type(base_dir).__name__}")

    proto = _parse(data, where)
    folder = Path(base_dir) if base_dir is not None else (path.parent if path is not None else None)
    checker = _Checker(folder, where, max_tensor_bytes, max_external_bytes)
    for label, tensor in _tensors(proto):
        try:
            checker.check(label, tensor)
        except ModelRejected as error:
            # Name the file too: an application may load several models.
            raise ModelRejected(f"{where}: {error}") from None
    return SafeModel(
        proto=proto,
        data=data,
        path=path,
        external_dir=checker.root if checker.external_bytes or checker.seen_external else None,
        external_bytes=checker.external_bytes,
    )


def _read_model_file(path: Path) -> bytes:
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ModelRejected(f"model path is a folder, not an .onnx file: {path}")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO would block and /dev/zero would never end: read only regular files.
            raise ModelRejected(f"model path {path} is not a regular file (a device, FIFO or socket)")
        if info.st_size > _PROTOBUF_LIMIT:
            raise ModelRejected(
                f"{path} is {info.st_size} bytes, over protobuf's 2 GiB limit; models this large keep their "
                "weights in external data files"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelRejected(f"model file not found: {path}") from None
    except OSError as error:
        raise ModelRejected(f"cannot read model file {path}: {error.strerror or error}") from None
    except ValueError:  # a NUL byte in the path
        raise ModelRejected(f"model path {_short(str(path))} is not a valid file name (NUL byte)") from None


def _parse(data: bytes, where: str) -> ModelProto:
    if not data:
        raise ModelRejected(f"{where} is empty, not an ONNX model")
    proto = ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, or RuntimeWarning-like errors from the C++ parser
        raise ModelRejected(f"{where} is not an ONNX model (truncated or corrupt: {error})") from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.opset_import:
        raise ModelRejected(
            f"{where} is not an ONNX model (no IR version, graph or opset import: wrong file, or truncated)"
        )
    if not proto.graph.output:
        raise ModelRejected(f"{where}: the graph declares no output (truncated or corrupt)")
    check_strings(proto, where)
    return proto


def _tensors(model: ModelProto) -> Iterator[tuple[str, TensorProto]]:
    """Every TensorProto in the model that could reference external data, with a readable label."""
    stack: list[tuple[str, GraphProto]] = [("", model.graph)]
    for function in model.functions:
        prefix = f"function {_short(function.name, 60)} > "
        # Default attribute values of a function can hold tensors and graphs as well.
        yield from _attribute_tensors(f"{prefix}default attribute", function.attribute_proto, stack)
        yield from _node_tensors(prefix, function.node, stack)
    for index, info in enumerate(model.training_info):
        stack.append((f"training graph {index} (initialization) > ", info.initialization))
        stack.append((f"training graph {index} (algorithm) > ", info.algorithm))
    while stack:
        prefix, graph = stack.pop()
        for tensor in graph.initializer:
            yield f"{prefix}initializer {_short(tensor.name, 60)}", tensor
        for sparse in graph.sparse_initializer:
            yield from _sparse(f"{prefix}sparse initializer {_short(sparse.values.name, 60)}", sparse)
        yield from _node_tensors(prefix, graph.node, stack)


def _node_tensors(prefix: str, nodes: object, stack: list[tuple[str, GraphProto]]) -> Iterator[tuple[str, TensorProto]]:
    for node in nodes:  # type: ignore[attr-defined]
        node_name = node.name or (node.output[0] if node.output else "?")
        node_label = f"{prefix}node {_short(node_name, 60)} ({_short(node.op_type, 40)[1:-1]})"
        yield from _attribute_tensors(f"{node_label} attribute", node.attribute, stack)


def _attribute_tensors(
    base: str, attributes: object, stack: list[tuple[str, GraphProto]]
) -> Iterator[tuple[str, TensorProto]]:
    for attr in attributes:  # type: ignore[attr-defined]
        label = f"{base} {_short(attr.name, 40)}"
        # Read every field whatever attr.type says: a crafted file can set a tensor on an
        # attribute declared as something else, and onnxruntime may still look at it.
        if attr.HasField("t"):
            yield label, attr.t
        for i, tensor in enumerate(attr.tensors):
            yield f"{label}[{i}]", tensor
        if attr.HasField("sparse_tensor"):
            yield from _sparse(label, attr.sparse_tensor)
        for i, sparse in enumerate(attr.sparse_tensors):
            yield from _sparse(f"{label}[{i}]", sparse)
        if attr.HasField("g"):
            stack.append((f"{label} > ", attr.g))
        for i, graph in enumerate(attr.graphs):
            stack.append((f"{label}[{i}] > ", graph))


def _sparse(label: str, sparse: SparseTensorProto) -> Iterator[tuple[str, TensorProto]]:
    yield f"{label} values", sparse.values
    yield f"{label} indices", sparse.indices


class _Checker:
    def __init__(self, folder: Path | None, where: str, max_tensor_bytes: int, max_external_bytes: int) -> None:
        self.folder = folder
        self.where = where
        self.max_tensor_bytes = max_tensor_bytes
        self.max_external_bytes = max_external_bytes
        self.external_bytes = 0
        self.seen_external = False
        self._root: Path | None = None

    @property
    def root(self) -> Path | None:
        if self._root is None and self.folder is not None:
            try:
                self._root = Path(os.path.realpath(self.folder))
            except (OSError, ValueError) as error:
                raise ModelRejected(f"cannot resolve the external-data folder {self.folder}: {error}") from None
        return self._root

    def check(self, label: str, tensor: TensorProto) -> None:
        declared = self._declared_bytes(label, tensor)
        external = tensor.data_location == TensorProto.EXTERNAL
        if not external and not tensor.external_data:
            return
        if not external:
            raise ModelRejected(f"{label}: has external_data entries but is not marked as external data")
        self.seen_external = True
        entries: dict[str, str] = {}
        for entry in tensor.external_data:
            if entry.key not in _ALLOWED_KEYS:
                raise ModelRejected(
                    f"{label}: unknown external-data key {_short(entry.key, 60)} (allowed: {', '.join(sorted(_ALLOWED_KEYS))})"
                )
            if entry.key in entries:
                raise ModelRejected(f"{label}: external-data key {_short(entry.key, 60)} given twice")
            entries[entry.key] = entry.value
        location = entries.get("location")
        if not location:
            raise ModelRejected(f"{label}: external data without a location")
        if tensor.data_type == TensorProto.STRING:
            raise ModelRejected(f"{label}: string tensors cannot use external data")
        if declared is None:
            raise ModelRejected(
                f"{label}: external data of unknown data type {tensor.data_type} (no fixed element size)"
            )
        # Parse the numbers before touching the file system: a malformed entry is rejected as such.
        offset = _int_field(label, "offset", entries.get("offset", "0"))
        length = _int_field(label, "length", entries["length"]) if "length" in entries else None
        file = self._resolve(label, location)
        size = self._file_size(label, location, file)
        shown = _short(location)
        if offset > size:
            raise ModelRejected(f"{label}: external data {shown} offset {offset} is past the end of the file ({size} bytes)")
        if length is None:
            length = size - offset
        if offset + length > size:
            raise ModelRejected(
                f"{label}: external data {shown} offset {offset} + length {length} runs past the end of "
                f"the file ({size} bytes)"
            )
        if length != declared:
            raise ModelRejected(
                f"{label}: external data length {length} does not match the declared shape "
                f"{list(tensor.dims)} ({declared} bytes)"
            )
        self.external_bytes += length
        if self.external_bytes > self.max_external_bytes:
            raise ModelRejected(
                f"{label}: external data totals more than {self.max_external_bytes} bytes "
                "(raise max_external_bytes to allow it)"
            )

    def _declared_bytes(self, label: str, tensor: TensorProto) -> int | None:
        count = 1
        for dim in tensor.dims:
            if dim < 0:
                raise ModelRejected(f"{label}: negative dimension {dim} in {list(tensor.dims)}")
            count *= dim
        if tensor.data_type in _HALF_BYTE_TYPES:
            nbytes = math.ceil(count / 2)
        else:
            try:
                itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
            except Exception:  # unknown or string types have no fixed size
                return None
            if tensor.data_type in (TensorProto.STRING, TensorProto.UNDEFINED):
                return None
            nbytes = count * itemsize
        if nbytes > self.max_tensor_bytes:
            raise ModelRejected(
                f"{label}: declares {nbytes} bytes (shape {list(tensor.dims)}), over the cap of "
                f"{self.max_tensor_bytes} (raise max_tensor_bytes to allow it)"
            )
        return nbytes

    def _resolve(self, label: str, location: str) -> Path:
        shown = _short(location)
        if "\x00" in location:
            raise ModelRejected(f"{label}: external data location contains a NUL byte")
        if os.path.isabs(location) or ntpath.isabs(location) or ntpath.splitdrive(location)[0] or location.startswith(("/", "\\")):
            raise ModelRejected(f"{label}: external data location {shown} is absolute; it must be relative to the model's folder")
        parts = [p for p in location.replace("\\", "/").split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise ModelRejected(f"{label}: external data location {shown} climbs out of the model's folder ('..')")
        if "\\" in location and os.sep != "\\":
            # Here a backslash is part of a file name, not a separator: the file onnxruntime
            # would open ("a\\b") is not the one these checks would walk ("a/b").
            raise ModelRejected(f"{label}: external data location {shown} contains a backslash; use '/' as the separator")
        if not parts:
            raise ModelRejected(f"{label}: external data location {shown} names no file")
        root = self.root
        if root is None:
            raise ModelRejected(
                f"{label}: references external data {shown} but the model was given as bytes without base_dir"
            )
        current = Path(self.folder) if self.folder is not None else root
        for i, part in enumerate(parts):
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                raise ModelRejected(f"{label}: external data file {shown} does not exist in {self.folder}") from None
            except OSError as error:
                raise ModelRejected(f"{label}: cannot check external data {shown}: {error.strerror or error}") from None
            if stat.S_ISLNK(info.st_mode):
                raise ModelRejected(f"{label}: external data {shown} passes through a symlink ({_short('/'.join(parts[: i + 1]))[1:-1]})")
        real = Path(os.path.realpath(current))
        if real != root and root not in real.parents:
            raise ModelRejected(f"{label}: external data {shown} resolves outside the model's folder")
        return current

    def _file_size(self, label: str, location: str, file: Path) -> int:
        info = os.lstat(file)
        if not stat.S_ISREG(info.st_mode):
            raise ModelRejected(f"{label}: external data {_short(location)} is not a regular file")
        if info.st_nlink != 1:
            raise ModelRejected(
                f"{label}: external data {_short(location)} has {info.st_nlink} hard links; a hard link can point "
                "outside the model's folder, so only files with one link are read"
            )
        return info.st_size


def _int_field(label: str, key: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise ModelRejected(f"{label}: external-data {key} must be a non-negative integer, got {_short(value)}")
    return int(value)


def _short(text: str, limit: int = 120) -> str:
    """``repr(text)``, cut to ``limit`` characters: names in a hostile file can be megabytes long."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"

