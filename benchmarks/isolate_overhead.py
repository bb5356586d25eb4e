"""What ``Runtime(model, isolate=True)`` costs: the start of its child process, and the time per
call (inputs and outputs through a pipe) against the same model in process, in alternating blocks.

    python benchmarks/isolate_overhead.py [--blocks 200] [--calls 20] [--time 1]

The model is the tiny GRU of runtime_overhead.py (hidden 16, 8 features), batch 1.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ortkit.runtime import Runtime
from runtime_overhead import tiny_gru


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--time", type=int, default=1)
    args = parser.parse_args()
    data = tiny_gru()
    start = time.perf_counter()
    isolated = Runtime(data, "cpu", threads=1, isolate=True)
    started = time.perf_counter() - start
    local = Runtime(data, "cpu", threads=1)
    feed = {"x": np.random.default_rng(0).standard_normal((1, args.time, 8)).astype(np.float32)}
    per_call: dict[str, list[float]] = {"local": [], "isolated": []}
    for _ in range(args.blocks):
        for name, rt in (("local", local), ("isolated", isolated)):
            t0 = time.perf_counter()
            for _ in range(args.calls):
                rt.run(feed)
            per_call[name].append((time.perf_counter() - t0) / args.calls)
    isolated.close()
    loc, iso = statistics.median(per_call["local"]), statistics.median(per_call["isolated"])
    print(f"child start (load included): {started:.2f} s")
    print(f"median per call: in process {loc * 1e6:.1f} us, isolated {iso * 1e6:.1f} us (+{(iso - loc) * 1e6:.1f} us, x{iso / loc:.1f})")


if __name__ == "__main__":
    main()
