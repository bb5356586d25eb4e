"""A real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`): a head that runs
nothing, and worker nodes with one CPU and a custom resource each that names their kind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402


def start_cluster(kinds: list[str]) -> tuple[Cluster, list[object]]:
    # A short, fixed folder: Ray puts Unix sockets under it, whose paths may not exceed 107 bytes.
    temp = Path(tempfile.gettempdir()) / f"ortkit-fleet-{os.getpid()}"
    # Ray records the address of the newest cluster in <tmp>/ray whatever its temp_dir.
    (Path(tempfile.gettempdir()) / "ray").mkdir(exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "temp_dir": str(temp)})
    nodes = [cluster.add_node(num_cpus=1, resources={kind: 1}) for kind in kinds]
    cluster.wait_for_nodes()
    return cluster, nodes


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two nodes of kind ``kind-a`` and one of ``kind-b``."""
    started, _ = start_cluster(["kind-a", "kind-a", "kind-b"])
    try:
        yield started
    finally:
        if ray.is_initialized():
            ray.shutdown()
        started.shutdown()
