"""The Open Inference Protocol's (KServe v2) tensor encodings: JSON ``data`` lists and the binary
tensor extension that Triton and its clients use for large tensors.

A binary request body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by
the raw bytes of every input whose ``parameters`` carry ``binary_data_size``, in input order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ortkit.serve._errors import BadRequest

__all__ = ["HEADER_LENGTH", "DecodedRequest", "decode_request", "encode_response", "v2_datatype"]

HEADER_LENGTH = "Inference-Header-Content-Length"

# One table both ways: the protocol's datatype names and the numpy dtypes they carry.
_V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}
_NUMPY_TO_V2 = {v: k for k, v in _V2_TO_NUMPY.items()} | {"object": "BYTES"}


def v2_datatype(numpy_dtype: str) -> str:
    """The protocol's name for a numpy dtype name (``float32`` -> ``FP32``); unknown types keep
    their own name so that metadata still says what the model declares."""
    return _NUMPY_TO_V2.get(numpy_dtype, numpy_dtype.upper())


@dataclass(frozen=True)
class DecodedRequest:
    """An inference request: input arrays by name, the requested outputs (empty: all), which of
    them come back as binary, and the request id to echo."""

    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...]
    binary_outputs: frozenset[str]
    binary_default: bool
    request_id: str | None


def decode_request(body: bytes, header_length: str | None) -> DecodedRequest:
    """Parse a v2 infer body (JSON, or JSON header + binary tensors).

    Raises:
        BadRequest: malformed JSON, an unknown datatype, data that does not fill its shape.
    """
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            raise BadRequest(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if not 0 <= split <= len(body):
            raise BadRequest(f"{HEADER_LENGTH} is {split} but the body has {len(body)} bytes")
        header, binary = body[:split], memoryview(body)[split:]
    else:
        header, binary = body, memoryview(b"")
    try:
        request = json.loads(header)
    except ValueError as error:
        raise BadRequest(f"the request body is not JSON: {error}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest('the request must be a JSON object with an "inputs" list')
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for entry in request["inputs"]:
        name, array, used = _decode_input(entry, binary, offset)
        if name in inputs:
            raise BadRequest(f"input {name!r} is given twice")
        inputs[name] = array
        offset += used
    if offset != len(binary):
        raise BadRequest(f"the body carries {len(binary) - offset} binary bytes that no input claims")
    outputs, binary_outputs = _requested_outputs(request.get("outputs"))
    params = request.get("parameters") or {}
    request_id = request.get("id")
    return DecodedRequest(
        inputs=inputs,
        outputs=outputs,
        binary_outputs=binary_outputs,
        binary_default=bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False,
        request_id=str(request_id) if request_id is not None else None,
    )


def _decode_input(entry: Any, binary: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise BadRequest('each input must be an object with "name", "shape", "datatype" and "data"')
    name = entry["name"]
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r}: shape must be a list of non-negative integers, got {shape!r}")
    datatype = entry.get("datatype")
    dtype = _V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise BadRequest(
            f"input {name!r}: datatype {datatype!r} is not served; use one of {', '.join(_V2_TO_NUMPY)}"
        )
    count = int(np.prod(shape, dtype=np.int64))
    params = entry.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise BadRequest(f"input {name!r}: binary_data_size {size!r} runs past the end of the body")
        expected = count * np.dtype(dtype).itemsize
        if size != expected:
            raise BadRequest(f"input {name!r}: {size} binary bytes, but shape {shape} of {datatype} needs {expected}")
        array = np.frombuffer(binary[offset:offset + size], dtype=dtype).reshape(shape)
        return name, array, size
    if "data" not in entry:
        raise BadRequest(f'input {name!r} has neither "data" nor a binary_data_size parameter')
    try:
        array = np.asarray(entry["data"], dtype=dtype)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"input {name!r}: data is not {datatype}: {error}") from None
    if array.size != count:
        raise BadRequest(f"input {name!r}: {array.size} values do not fill shape {shape}")
    # The protocol allows nested or flat (row-major) data; both reshape the same way.
    return name, array.reshape(shape), 0


def _requested_outputs(entries: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    if entries is None:
        return (), frozenset()
    if not isinstance(entries, list):
        raise BadRequest('"outputs" must be a list of {"name": ...} objects')
    names: list[str] = []
    binary: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BadRequest('each requested output must be an object with a "name"')
        names.append(entry["name"])
        params = entry.get("parameters") or {}
        if isinstance(params, dict) and params.get("binary_data"):
            binary.add(entry["name"])
    return tuple(names), frozenset(binary)


def encode_response(
    model: str, outputs: Mapping[str, np.ndarray], order: Sequence[str], request: DecodedRequest
) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers: JSON, or a JSON header + binary outputs when the
    request asked for them."""
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name in order:
        array = np.ascontiguousarray(outputs[name])
        entry: dict[str, Any] = {"name": name, "datatype": v2_datatype(array.dtype.name), "shape": list(array.shape)}
        if name in request.binary_outputs or (request.binary_default and name not in _json_asked(request)):
            raw = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.reshape(-1).tolist()
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model, "outputs": entries}
    if request.request_id is not None:
        response["id"] = request.request_id
    header = json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return header, {}
    return header + b"".join(chunks), {HEADER_LENGTH: str(len(header))}


def _json_asked(request: DecodedRequest) -> frozenset[str]:
    # An output named in "outputs" without binary_data stays JSON even when the request-level
    # default is binary: the per-output choice is the more specific one.
    return frozenset(request.outputs) - request.binary_outputs
