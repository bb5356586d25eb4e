"""Per-thread I/O binding for device EPs, and reading onnxruntime's record of node assignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

__all__ = ["_Binding", "_read_assignment"]


class _Binding:
    """One thread's I/O binding: device OrtValues for the inputs, reused while shapes repeat."""

    def __init__(self, session: ort.InferenceSession, device: tuple[str, int], output_names: list[str]) -> None:
        self.session = session
        self.device, self.device_id = device
        self.io = session.io_binding()
        self.values: dict[str, tuple[tuple[int, ...], Any, Any]] = {}
        self.output_names = output_names

    def run(self, feed: dict[str, np.ndarray], run_options: ort.RunOptions | None) -> list[np.ndarray]:
        for name, array in feed.items():
            if not array.flags.c_contiguous:
                array = np.ascontiguousarray(array)
            held = self.values.get(name)
            if held is not None and held[0] == array.shape and held[1] == array.dtype:
                held[2].update_inplace(array)
                continue
            # An OrtValue that owns its memory: update_inplace on one made from the caller's
            # array would write into the caller's array.
            value = ort.OrtValue.ortvalue_from_shape_and_type(array.shape, array.dtype, self.device, self.device_id)
            value.update_inplace(array)
            self.values[name] = (array.shape, array.dtype, value)
            self.io.bind_ortvalue_input(name, value)
        # Outputs are bound afresh each run: a binding keeps the previous run's output buffers,
        # whose shapes need not fit this run's.
        for name in self.output_names:
            self.io.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(self.io, run_options)
        return self.io.copy_outputs_to_cpu()


def _read_assignment(session: ort.InferenceSession) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    getter = getattr(session, "get_provider_graph_assignment_info", None)
    if getter is None:
        return {}, {}
    try:
        subgraphs = getter()
    except Exception:  # not recorded by this build
        return {}, {}
    counts: dict[str, int] = {}
    ops: dict[str, dict[str, int]] = {}
    for subgraph in subgraphs:
        nodes = subgraph.get_nodes()
        counts[subgraph.ep_name] = counts.get(subgraph.ep_name, 0) + len(nodes)
        per_op = ops.setdefault(subgraph.ep_name, {})
        for node in nodes:
            per_op[node.op_type] = per_op.get(node.op_type, 0) + 1
    return counts, ops
