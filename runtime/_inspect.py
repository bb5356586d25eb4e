"""Describe a model: signature, opsets, op histogram, parameters, FLOPs and EP assignment.

The FLOP count comes from `ortkit.runtime._flops.count_flops` (re-exported here and by the package).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import GraphProto, ModelProto, TensorProto

from ortkit.runtime._errors import InputError, ProviderUnavailable
from ortkit.runtime._flops import FlopCount, count_flops

__all__ = ["FlopCount", "ModelReport", "count_flops", "inspect_model", "op_histogram", "parameter_count"]


# ---------------------------------------------------------------------------- whole-model report


def _all_nodes(graph: GraphProto) -> list[onnx.NodeProto]:
    nodes, stack = [], [graph]
    while stack:
        current = stack.pop()
        for node in current.node:
            nodes.append(node)
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    stack.append(attribute.g)
                stack.extend(attribute.graphs)
    return nodes


def op_histogram(model: ModelProto) -> dict[str, int]:
    """Op type -> node count, subgraphs included; non-default domains prefix the op type."""
    counts: dict[str, int] = {}
    for node in _all_nodes(model.graph):
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def parameter_count(model: ModelProto) -> int:
    """Elements of every initializer (sparse ones by their dense shape) except int64 ones, which
    hold shapes, axes and indices rather than learned weights."""
    total = 0
    graphs = [model.graph]
    for node in _all_nodes(model.graph):
        for attribute in node.attribute:
            if attribute.HasField("g"):
                graphs.append(attribute.g)
            graphs.extend(attribute.graphs)
    for graph in graphs:
        for tensor in graph.initializer:
            if tensor.data_type != TensorProto.INT64:
                total += math.prod(tensor.dims)
        for sparse in graph.sparse_initializer:
            if sparse.values.data_type != TensorProto.INT64:
                total += math.prod(sparse.dims)
    return total


@dataclass(frozen=True)
class ModelReport:
    """What `inspect_model` found."""

    path: str
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    opsets: dict[str, int]
    ir_version: int
    producer: str
    op_histogram: dict[str, int]
    parameters: int
    flops: FlopCount | None
    flops_shapes: dict[str, list[int]]
    flops_note: str
    metadata: dict[str, str]
    providers: list[str]
    node_assignment: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "opsets": self.opsets,
            "ir_version": self.ir_version,
            "producer": self.producer,
            "op_histogram": self.op_histogram,
            "parameters": self.parameters,
            "flops": self.flops.to_dict() if self.flops else None,
            "flops_shapes": self.flops_shapes,
            "flops_note": self.flops_note,
            "metadata": self.metadata,
            "providers": self.providers,
            "node_assignment": self.node_assignment,
        }

    def lines(self) -> list[str]:
        """A plain-text rendering, one fact per line."""
        out = [f"model       {self.path}", f"producer    {self.producer or '-'} (IR {self.ir_version})"]
        out.append("opsets      " + ", ".join(f"{d} {v}" for d, v in self.opsets.items()))
        for label, infos in (("input", self.inputs), ("output", self.outputs)):
            for info in infos:
                out.append(f"{label:<11} {info.name}: {info.dtype} {info.shape_text()}")
        out.append(f"parameters  {self.parameters:,}")
        if self.flops is not None:
            at = ", ".join(f"{k}={tuple(v)}" for k, v in self.flops_shapes.items())
            extra = f" (not counted: {', '.join(self.flops.uncounted_ops)})" if self.flops.uncounted_ops else ""
            out.append(f"FLOPs       {self.flops.total:,} at {at}{extra}")
        else:
            out.append(f"FLOPs       - ({self.flops_note})")
        out.append("ops         " + ", ".join(f"{op} {n}" for op, n in self.op_histogram.items()))
        out.append("providers   " + ", ".join(self.providers))
        total = sum(self.node_assignment.values()) or 1
        assigned = ", ".join(f"{ep} {n} ({100 * n / total:.0f}%)" for ep, n in self.node_assignment.items())
        out.append(f"nodes       {assigned or 'unknown (this onnxruntime does not report it)'}")
        for key, value in self.metadata.items():
            out.append(f"metadata    {key} = {value if len(value) <= 120 else value[:117] + '...'}")
        return out


def inspect_model(
    model: str | os.PathLike[str] | bytes | ModelProto,
    providers: str | Sequence[str] = "auto",
    shapes: Mapping[str, Sequence[int] | int] | None = None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    ep_library: Mapping[str, str] | None = None,
    isolate: bool = False,
) -> ModelReport:
    """Load ``model`` safely into a session on ``providers`` and describe it.

    FLOPs are counted at ``shapes`` (input name -> shape and/or symbol -> size); without them only
    when every input dim is fixed. An EP named explicitly must be in this build and load, as in
    `Runtime`; nodes it leaves to the CPU EP are shown in the report, not refused, since showing
    them is what inspecting is for. ``isolate`` opens the session in a child process (see
    `Runtime`), so that onnxruntime failing on a hostile file cannot end this process.

    Raises:
        ProviderUnavailable: a named EP is not in this build or did not load.
        UsageError: a name in ``shapes`` is neither an input nor one of the model's symbolic dims.
    """
    from ortkit.runtime._files import check_shape_names
    from ortkit.runtime._providers import register_libraries, resolve_providers
    from ortkit.runtime._runtime import Runtime

    register_libraries(ep_library)
    requested, auto = resolve_providers(providers)  # strict: an EP this build lacks is refused
    rt = Runtime(model, providers, base_dir=base_dir, ep_library=ep_library, strict=False, isolate=isolate)
    rt.close()  # only its description is needed
    missing = [c.spec for c in requested if not auto and c.name not in rt.providers]
    if missing:
        raise ProviderUnavailable(f"EP {', '.join(missing)} was requested but did not load; the session runs on {', '.join(rt.providers)}")
    if shapes:
        check_shape_names(rt.inputs, shapes)
    proto = rt.model
    flops: FlopCount | None = None
    note = ""
    resolved: dict[str, list[int]] = {}
    try:
        flops = count_flops(proto, shapes)
        symbols = {k: v for k, v in (shapes or {}).items() if isinstance(v, int)}
        for info in rt.inputs:
            given = (shapes or {}).get(info.name)
            resolved[info.name] = list(given) if given is not None and not isinstance(given, int) else [
                d if isinstance(d, int) else int(symbols.get(d, 0)) for d in info.dims  # type: ignore[arg-type]
            ]
    except InputError as error:
        note = str(error).replace("count_flops: ", "")
    return ModelReport(
        path=os.fspath(model) if isinstance(model, (str, os.PathLike)) else f"<{type(model).__name__}>",
        inputs=rt.inputs,
        outputs=rt.outputs,
        opsets={(o.domain or "ai.onnx"): o.version for o in proto.opset_import},
        ir_version=proto.ir_version,
        producer=f"{proto.producer_name} {proto.producer_version}".strip(),
        op_histogram=op_histogram(proto),
        parameters=parameter_count(proto),
        flops=flops,
        flops_shapes=resolved,
        flops_note=note,
        metadata=rt.metadata,
        providers=rt.providers,
        node_assignment=rt.node_assignment,
    )
