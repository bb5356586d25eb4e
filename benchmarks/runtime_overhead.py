"""Overhead of `Runtime.run` over a raw `InferenceSession.run`, measured side by side.

Both run the same session (``rt.session``) on the same input, in interleaved blocks (raw,
wrapped, raw, wrapped...), so that frequency scaling and other load hit both alike. Prints the
median over blocks of (wrapped time / raw time); the target is <= 1.05.

The model is ``--model PATH`` (e.g. the smallest zoo model exported by ``ortkit export``), else a
tiny GRU (hidden 16, 8 features, time 1) built with onnx.helper, at batch 1: the case where
per-call overhead matters most.

    python benchmarks/runtime_overhead.py [--model PATH] [--blocks 2000] [--calls 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from ortkit.runtime import Runtime


def tiny_gru(features: int = 8, hidden: int = 16, outputs: int = 2) -> bytes:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array((0.3 * rng.standard_normal((1, 3 * hidden, features))).astype(np.float32), "W"),
        numpy_helper.from_array((0.3 * rng.standard_normal((1, 3 * hidden, hidden))).astype(np.float32), "R"),
        numpy_helper.from_array((0.3 * rng.standard_normal((hidden, outputs))).astype(np.float32), "Wo"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_t"], perm=[1, 0, 2]),
        helper.make_node("GRU", ["x_t", "W", "R"], ["Y", "Y_h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Y_h", "zero"], ["h"]),
        helper.make_node("MatMul", ["h", "Wo"], ["y"]),
    ]
    inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"))
    graph = helper.make_graph(
        nodes, "tiny_gru",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def measure(rt: Runtime, feed: dict[str, np.ndarray], blocks: int, calls: int) -> tuple[list[int], list[int]]:
    """Per-block times (ns) of raw and wrapped calls, taken in alternation."""
    raw = rt.session
    names = [o.name for o in rt.outputs]
    raw_ns: list[int] = []
    wrapped_ns: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(50):  # warm-up
        raw.run(names, feed)
        rt.run(feed)
    for block in range(blocks):
        # Alternate which goes first, so neither always runs on a just-warmed cache.
        for which in ((0, 1) if block % 2 == 0 else (1, 0)):
            start = clock()
            if which == 0:
                for _ in range(calls):
                    raw.run(names, feed)
                raw_ns.append(clock() - start)
            else:
                for _ in range(calls):
                    rt.run(feed)
                wrapped_ns.append(clock() - start)
    return raw_ns, wrapped_ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an .onnx file (default: a tiny GRU built here)")
    parser.add_argument("--time", type=int, default=1, help="sequence length of the tiny GRU input")
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    source = args.model or tiny_gru()
    rt = Runtime(source, "cpu", threads=args.threads)
    feed = {}
    for info in rt.inputs:
        shape = [d if isinstance(d, int) else (args.time if d == "time" else 1) for d in info.dims]
        feed[info.name] = np.random.default_rng(0).standard_normal(shape).astype(info.dtype)
    raw_ns, wrapped_ns = measure(rt, feed, args.blocks, args.calls)
    ratios = [w / r for r, w in zip(raw_ns, wrapped_ns)]
    raw_us = statistics.median(raw_ns) / args.calls / 1e3
    wrapped_us = statistics.median(wrapped_ns) / args.calls / 1e3
    result = {
        "model": args.model or "tiny GRU (hidden 16), batch 1, time %d" % args.time,
        "machine": f"{platform.processor() or platform.machine()}, onnxruntime {ort.__version__}",
        "median_ratio": wrapped_us / raw_us,
        "median_of_block_ratios": statistics.median(ratios),
        "p10_ratio": statistics.quantiles(ratios, n=10)[0],
        "p90_ratio": statistics.quantiles(ratios, n=10)[-1],
        "raw_call_us": raw_us,
        "runtime_call_us": wrapped_us,
        "blocks": args.blocks,
        "calls_per_block": args.calls,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model: {result['model']}")
    print(f"median per call: InferenceSession.run {raw_us:.2f} us, Runtime.run {wrapped_us:.2f} us")
    print(f"Runtime.run / InferenceSession.run median ratio: {result['median_ratio']:.3f} "
          f"(per-block ratios: median {result['median_of_block_ratios']:.3f}, p10 {result['p10_ratio']:.3f}, "
          f"p90 {result['p90_ratio']:.3f}); target <= 1.05")


if __name__ == "__main__":
    main()
