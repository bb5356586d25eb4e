"""The GEMM ceiling of this machine: how many GFLOP/s a large float32 matrix product reaches with
numpy and with onnxruntime's MatMul, measured once per environment for the report's roofline."""

from __future__ import annotations

import time

from ortkit.report import Ceiling

__all__ = ["measure_ceiling"]


def _best_seconds(call, repeats: int) -> float:  # type: ignore[no-untyped-def]
    call()  # warm-up: first-touch pages, thread pools
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def measure_ceiling(environment_key: str, threads: int, n: int = 1024, repeats: int = 5) -> Ceiling:
    """Time ``n`` x ``n`` float32 products (best of ``repeats``: the ceiling is what the machine CAN do)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    numpy_s = _best_seconds(lambda: a @ b, repeats)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ort_s = _best_seconds(lambda: session.run(None, {"a": a, "b": b}), repeats)
    return Ceiling(environment_key, n, threads, flops / numpy_s / 1e9, flops / ort_s / 1e9)
