"""Soak: one `Runtime` per model shared by 8 threads, mixed shapes, for a given duration, with the
process's RSS sampled. Prints the RSS after warm-up, at the end, and the growth in between.

The models are a GRU and an LSTM classifier built with onnx.helper (hidden 64, 16 features), so
the script needs neither torch nor the exporter. Each thread picks a model, a batch (1..16) and a
length (1..400) at random for every call, so onnxruntime's arena sees ever-changing shapes.

    python benchmarks/soak_runtime.py --minutes 30 [--threads 8] [--warmup-minutes 2] [--every 10]

Output: one line per RSS sample (``t_s rss_mib calls``) and a final JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ortkit.runtime import Runtime


def recurrent_classifier(op: str, features: int = 16, hidden: int = 64, outputs: int = 4) -> bytes:
    gates = {"GRU": 3, "LSTM": 4}[op]
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array((0.2 * rng.standard_normal((1, gates * hidden, features))).astype(np.float32), "W"),
        numpy_helper.from_array((0.2 * rng.standard_normal((1, gates * hidden, hidden))).astype(np.float32), "R"),
        numpy_helper.from_array((0.2 * rng.standard_normal((hidden, outputs))).astype(np.float32), "Wo"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_t"], perm=[1, 0, 2]),
        helper.make_node(op, ["x_t", "W", "R"], ["Y", "Y_h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Y_h", "zero"], ["h"]),
        helper.make_node("MatMul", ["h", "Wo"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    args = parser.parse_args()

    runtimes = [Runtime(recurrent_classifier(op), "cpu", threads=1) for op in ("GRU", "LSTM")]
    stop = threading.Event()
    calls = [0] * args.threads
    errors: list[str] = []

    def worker(index: int) -> None:
        rng = np.random.default_rng(index)
        while not stop.is_set():
            rt = runtimes[int(rng.integers(len(runtimes)))]
            x = rng.standard_normal((int(rng.integers(1, 17)), int(rng.integers(1, 401)), 16)).astype(np.float32)
            try:
                y = rt.run({"x": x})["y"]
            except Exception as error:  # a soak counts failures instead of stopping at the first
                errors.append(f"{type(error).__name__}: {error}")
                continue
            if y.shape != (x.shape[0], 4) or not np.isfinite(y).all():
                errors.append(f"bad output {y.shape}")
            calls[index] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.threads)]
    start = time.monotonic()
    for t in threads:
        t.start()
    samples: list[tuple[float, float, int]] = []
    end = start + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(min(args.every, max(0.0, end - time.monotonic())))
        sample = (round(time.monotonic() - start, 1), round(rss_mib(), 1), sum(calls))
        samples.append(sample)
        print(*sample, flush=True)
    stop.set()
    for t in threads:
        t.join()

    after_warmup = [s for s in samples if s[0] >= args.warmup_minutes * 60]
    base = after_warmup[0][1] if after_warmup else samples[0][1]
    final = samples[-1][1]
    peak = max(s[1] for s in after_warmup or samples)
    summary = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "minutes": args.minutes,
        "calls": sum(calls),
        "errors": len(errors),
        "first_errors": errors[:3],
        "rss_after_warmup_mib": base,
        "rss_end_mib": final,
        "rss_peak_after_warmup_mib": peak,
        "growth_after_warmup_pct": round(100 * (final - base) / base, 2),
        "peak_growth_after_warmup_pct": round(100 * (peak - base) / base, 2),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
