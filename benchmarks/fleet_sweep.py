"""What a fleet sweep costs beside a local one, on one machine: the same grid measured locally
and on a local Ray cluster (`ray.cluster_utils.Cluster`, a head with no CPUs and NODES one-CPU
worker nodes of one kind), wall time of each, and the calibration spread of the nodes.

On one machine the nodes share its cores, so this shows the fleet's fixed costs (connecting,
starting one agent per node, calibration, the object store), not a fleet's speed-up.

    python benchmarks/fleet_sweep.py [--nodes 2] [--models 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = "warmup_runs = 2\nmin_runs = 10\nmax_runs = 200\nmax_time_s = 0.2\ntarget_rel_ci = 0.05\n"


def _models(folder: Path, count: int) -> list[Path]:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = []
    for index in range(count):
        size = 64 * (index + 1)
        w = numpy_helper.from_array(np.random.default_rng(index).standard_normal((size, size)).astype(np.float32), "W")
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "mm",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", size])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", size])], [w])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        path = folder / f"mm{size}.onnx"
        onnx.save(model, path)
        out.append(path)
    return out


def _sweep(folder: Path, models: list[Path], node: str | None) -> Path:
    target = f'ep = "cpu"\nnode = "{node}"\n' if node else 'ep = "cpu"\n'
    text = "".join(f'[[models]]\nonnx = "{m.name}"\n\n' for m in models) + f"[[targets]]\n{target}\n"
    text += f"[grid]\nbatch = [1, 8]\nthreads = [1]\n\n[measure]\n{BUDGET}"
    path = folder / ("fleet.toml" if node else "local.toml")
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    from ortkit.fleet import read_calibrations

    ortkit = str(Path(sys.executable).with_name("ortkit"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = _models(folder, args.models)
        start = time.perf_counter()
        subprocess.run([ortkit, "sweep", str(_sweep(folder, models, None)), "--db", str(folder / "local.db")], check=True,
                       capture_output=True)
        local = time.perf_counter() - start
        (Path(tempfile.gettempdir()) / "ray").mkdir(exist_ok=True)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                "temp_dir": str(Path(tempfile.gettempdir()) / f"ortkit-bench-{os.getpid()}")})
        try:
            for _ in range(args.nodes):
                cluster.add_node(num_cpus=1, resources={"bench": 1})
            cluster.wait_for_nodes()
            start = time.perf_counter()
            subprocess.run([ortkit, "sweep", str(_sweep(folder, models, "bench")), "--ray", cluster.address, "--db", str(folder / "fleet.db")],
                           check=True, capture_output=True)
            fleet = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run([ortkit, "sweep", str(folder / "fleet.toml"), "--ray", cluster.address, "--db", str(folder / "fleet.db")],
                           check=True, capture_output=True)
            resumed = time.perf_counter() - start
        finally:
            cluster.shutdown()
        calibrations = read_calibrations(folder / "fleet.db")
    cells = args.models * 2
    print(f"{cells} cells: local sweep {local:.1f} s; fleet sweep on {args.nodes} one-CPU nodes {fleet:.1f} s "
          f"(fleet/local {fleet / local:.2f}); rerun (all resumed) {resumed:.1f} s")
    medians = [c.p50_ms for c in calibrations]
    print(f"calibration medians per node: {', '.join(f'{m:.3f} ms' for m in medians)} "
          f"(max/min {max(medians) / min(medians):.2f})")


if __name__ == "__main__":
    main()
