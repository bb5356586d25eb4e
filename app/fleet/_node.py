"""What runs on a node: one agent per node, holding the node's cores for the whole sweep.

The agent is a plain class; the driver turns it into a Ray actor pinned to one node that asks for
every CPU of that node, so Ray places nothing else there and no two measurements share cores. The
agent measures through the profiler's own functions and returns typed records: a block of
configurations that share a shape in interleaved rounds (`measure_interleaved`, as a local sweep
does, so the report's comparisons are paired on the fleet too), a configuration with concurrent
clients and the calibration workload in fresh worker processes (`measure_processes`).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ortkit.base import OrtkitError, file_sha256
from ortkit.fleet._calibration import Calibration, calibration_model
from ortkit.profiler import Budget, Environment, ProfileSpec, Result, check_eps, measure_interleaved, measure_processes, worker_environment

__all__ = ["NodeAgent", "NodeHello", "CALIBRATION_BUDGET", "ModelTransferError"]

#: one thread, a fixed budget: the same workload everywhere, about a second per node
CALIBRATION_BUDGET = Budget(warmup_runs=5, warmup_time_s=0.05, min_runs=30, max_runs=5000, max_time_s=0.5, target_rel_ci=0.005)


class ModelTransferError(OrtkitError):
    """A model arrived on a node with another sha256 than the driver sent."""


@dataclass(frozen=True)
class NodeHello:
    """Who a node is: its Ray id, kind, host, CPUs and the environment its results carry."""

    node_id: str
    kind: str
    hostname: str
    cpus: int
    environment: Environment


class NodeAgent:
    """Measures cells on the node it runs on (see the module's docstring)."""

    def __init__(self, kind: str, cpus: int) -> None:
        import ray

        self.node_id = ray.get_runtime_context().get_node_id()
        self.kind = kind
        self.cpus = cpus
        base = Environment.from_dict(worker_environment(None))
        # `extra` is not part of the environment key: identical machines still pool, but each
        # result says which node and kind measured it.
        extra = (*base.extra, ("ray_node_id", self.node_id), ("node_kind", kind), ("hostname", socket.gethostname()))
        self.environment = dataclasses.replace(base, extra=extra)
        self.cache = Path(tempfile.mkdtemp(prefix="ortkit-fleet-"))

    def hello(self) -> NodeHello:
        return NodeHello(self.node_id, self.kind, socket.gethostname(), self.cpus, self.environment)

    def calibrate(self) -> Calibration:
        """Measure the calibration model with one thread, as every node of the fleet does."""
        path = calibration_model(self.cache / "calibration.onnx")
        spec = ProfileSpec(model=str(path), model_sha256=file_sha256(path), model_label="ortkit-calibration", batch=64, threads=1)
        runs = measure_processes(spec, CALIBRATION_BUDGET, timeout=120.0)
        if runs.failure is not None or not runs.samples_ms:
            raise OrtkitError(f"node {self.node_id[:12]} ({self.kind}): the calibration workload failed: {runs.failure.error if runs.failure else 'no samples'}")
        samples = sorted(runs.samples_ms)
        return Calibration(self.node_id, self.kind, socket.gethostname(), self.environment.key, samples[len(samples) // 2],
                           tuple(runs.samples_ms))

    def measure(self, spec: ProfileSpec, budget: Budget, timeout: float, model: bytes) -> Result:
        """Measure ``spec`` with the model file's bytes (from the object store), checked against
        the spec's sha256 before anything runs."""
        local = self._receive(spec, model)
        reason = check_eps([spec.ep], self.environment.to_dict(), plugins=[name for name, _ in spec.ep_library]).get(spec.ep)
        if reason:
            return Result(spec=spec, environment=self.environment, status="skipped", message=f"{reason} (node {self.kind})")
        here = dataclasses.replace(spec, model=str(local))
        result = measure_processes(here, budget, timeout=timeout).to_result(here, self.environment, budget)
        # the driver's path, so the store holds one path per file whichever node measured it
        return dataclasses.replace(result, spec=spec)

    def measure_block(self, specs: list[ProfileSpec], budget: Budget, timeout: float, *models: bytes) -> list[Result]:
        """Measure ``specs`` (one shape; ``models``: the bytes of their distinct files, in the
        order their sha256s first appear in ``specs``) side by side in interleaved rounds; the
        results in the order of ``specs``."""
        files = dict(zip(dict.fromkeys(s.model_sha256 for s in specs), models))
        results: dict[int, Result] = {}
        work = []
        for index, spec in enumerate(specs):
            local = self._receive(spec, files[spec.model_sha256])
            reason = check_eps([spec.ep], self.environment.to_dict(), plugins=[name for name, _ in spec.ep_library]).get(spec.ep)
            if reason:
                results[index] = Result(spec=spec, environment=self.environment, status="skipped", message=f"{reason} (node {self.kind})")
            else:
                work.append((index, dataclasses.replace(spec, model=str(local))))
        # Only the driver writes the database: the rows a local sweep stores after every round
        # (to resume a killed sweep) are dropped here; a lost node's block is measured again.
        measured = measure_interleaved([(here, self.environment, None) for _, here in work], budget, _Discard(),
                                       python=lambda spec: None, timeout=timeout)
        for (index, _), result in zip(work, measured):
            results[index] = dataclasses.replace(result, spec=specs[index])  # the driver's path, as in `measure`
        return [results[i] for i in range(len(specs))]

    def _receive(self, spec: ProfileSpec, model: bytes) -> Path:
        import hashlib

        digest = hashlib.sha256(model).hexdigest()
        if digest != spec.model_sha256:
            raise ModelTransferError(f"{spec.model_label} arrived on node {self.node_id[:12]} with sha256 {digest[:16]}, "
                                     f"expected {spec.model_sha256[:16]}: the transfer is damaged")
        path = self.cache / f"{digest}.onnx"
        if not path.is_file():
            partial = path.with_suffix(".part")
            partial.write_bytes(model)
            partial.replace(path)
        return path

    def close(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)


class _Discard:
    """A store for `measure_interleaved` that keeps nothing (the agent returns the final results)."""

    def add(self, result: Result) -> None:
        return None
