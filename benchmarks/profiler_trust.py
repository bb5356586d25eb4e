"""Can ortkit's profiler numbers be trusted? Prints ratios; checks nothing with a time limit.

(a) ortkit's p50 (the engine timing `Runtime.run`, as the worker does) against a bare
    hand-written `session.run` timing loop on the SAME session, interleaved in rounds so machine
    drift hits both alike. Target: within 3%.
(b) The same small grid profiled twice (each configuration in its own worker both times).
    Target: p50s within 5% of each other for >= 90% of configurations.

    .venv/bin/python benchmarks/profiler_trust.py [--rounds 5] [--max-time 1.0]

Models are built with onnx.helper (no torch): an LSTM (hidden 128) and a 2-layer MLP.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def lstm(path: Path, hidden: int = 128, features: int = 16) -> Path:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, features)).astype(np.float32) * 0.1, "W"),
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.1, "R"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R"], ["all", "h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["h", "axes"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def mlp(path: Path, size: int = 512) -> Path:
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32) / size**0.5, f"W{i}") for i in range(2)]
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h"]), helper.make_node("Relu", ["h"], ["r"]), helper.make_node("MatMul", ["r", "W1"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def bare_loop(session, feeds, runs: int) -> float:
    """The hand-written loop a careful engineer would write: warm up, time each run, median."""
    for _ in range(10):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def trust_a(folder: Path, rounds: int, max_time: float) -> list[float]:
    from ortkit.profiler import Budget, measure
    from ortkit.runtime import Runtime

    cases = [(lstm(folder / "lstm.onnx"), {"x": (1, 100, 16)}), (lstm(folder / "lstm.onnx"), {"x": (8, 32, 16)}),
             (mlp(folder / "mlp.onnx"), {"x": (16, 512)})]
    ratios = []
    print("(a) ortkit p50 vs a bare session.run loop on the same session (threads=1)")
    for path, shapes in cases:
        rt = Runtime(path, "cpu", threads=1)
        feeds = {k: np.random.default_rng(0).standard_normal(v).astype(np.float32) for k, v in shapes.items()}
        ours, bare, per_round = [], [], []
        for index in range(rounds):
            # Alternate which goes first, so load that builds up or fades hits both alike.
            if index % 2:
                b = bare_loop(rt.session, feeds, 300)
            m = measure(lambda: rt.run(feeds), Budget(max_time_s=max_time))
            if not index % 2:
                b = bare_loop(rt.session, feeds, max(len(m.samples_ms), 50))
            ours.append(m.stats.p50)
            bare.append(b)
            per_round.append(m.stats.p50 / b)
        ratio = float(np.median(per_round))
        ratios.append(ratio)
        print(f"    {path.stem:5s} {shapes['x']!s:14s} ortkit p50 {np.median(ours):8.4f} ms  bare p50 {np.median(bare):8.4f} ms  "
              f"median per-round ratio {ratio:.3f} (rounds: {' '.join(f'{r:.3f}' for r in per_round)})")
    return ratios


def trust_b(folder: Path, max_time: float, processes: int) -> list[float]:
    from ortkit.profiler import Budget, profile

    models = [lstm(folder / "lstm.onnx"), mlp(folder / "mlp.onnx")]
    runs = []
    for attempt in range(2):
        summary = profile(models, ["cpu"], [1, 8], [16, 64], [1, 2], db=folder / f"grid{attempt}.db",
                          budget=Budget(max_time_s=max_time, processes=processes))
        runs.append({r.key: (r.spec.describe(), r.stats.p50) for r in summary.results if r.stats is not None})
    ratios = []
    print(f"(b) the same grid twice, each configuration in {processes} fresh worker process(es)")
    for key, (label, first) in runs[0].items():
        second = runs[1].get(key)
        if second is not None:
            ratios.append(second[1] / first)
            print(f"    {label:<32} run1 p50 {first:8.4f} ms  run2 p50 {second[1]:8.4f} ms  ratio {ratios[-1]:.3f}")
    within = sum(abs(r - 1) <= 0.05 for r in ratios)
    print(f"    {len(ratios)} configurations")
    print(f"    within 5%: {within}/{len(ratios)} = {within / max(len(ratios), 1):.0%} (target >= 90%)")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--max-time", type=float, default=0.5)
    parser.add_argument("--processes", type=int, default=3, help="worker processes per configuration in (b)")
    args = parser.parse_args()
    from ortkit.profiler import collect_environment

    env = collect_environment(with_gpus=False)
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {env.cpu_model}, {env.cpu_cores_logical} logical cores; {env.onnxruntime_distribution} {env.onnxruntime}; load average {load:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        a = trust_a(Path(folder), args.rounds, args.max_time)
        print(f"    worst |ratio - 1| = {max(abs(r - 1) for r in a):.1%} (target <= 3%)")
        trust_b(Path(folder), args.max_time, args.processes)


if __name__ == "__main__":
    main()
