"""The driver: finds the nodes of each kind, checks them, and streams the cells through them.

Cells of one kind that share a shape form a block, which one node measures in interleaved rounds
(as a local sweep does: the report's comparisons are then paired); a cell with concurrent
clients is a block of its own, measured in fresh worker processes. Only the driver writes the
results database; each result is committed the moment its node returns it, so a sweep
interrupted anywhere keeps what was measured and a rerun resumes. A node that dies takes only its
running block with it; that block is queued again for another node of its kind (or for the next
run, when none is left).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ortkit.base import InternalError, OrtkitError
from ortkit.fleet._calibration import DEFAULT_THRESHOLD, Calibration, NodeFlag, flag_nodes, record_calibration, record_measured_by
from ortkit.fleet._cluster import FleetError, check_versions, connect, nodes_of_kind
from ortkit.fleet._node import NodeAgent, NodeHello
from ortkit.profiler import Budget, Environment, ProfileSpec, Result, ResultStore, SweepEvent, block_key, worker_environment

__all__ = ["FleetCell", "FleetSummary", "run_cells"]

#: statuses that finish a cell (a failed one is measured again by the next run, as locally)
_DONE = ("ok", "skipped", "unavailable")


@dataclass(frozen=True)
class FleetCell:
    """One configuration and the node kind that must measure it."""

    kind: str
    spec: ProfileSpec


@dataclass
class FleetSummary:
    """What a fleet sweep did. ``results``: every cell with a result (resumed ones too);
    ``unmeasured``: cells no live node of their kind could take (a rerun measures them);
    ``missing_kinds``: kinds the cluster has no node of; ``flags``: nodes that failed the
    equivalence check."""

    db: str
    nodes: list[NodeHello] = field(default_factory=list)
    calibrations: list[Calibration] = field(default_factory=list)
    flags: list[NodeFlag] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    measured: int = 0
    resumed: int = 0
    retried: int = 0
    unmeasured: list[FleetCell] = field(default_factory=list)
    missing_kinds: list[str] = field(default_factory=list)
    measured_by: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def complete(self) -> bool:
        """Whether every cell has a result (no kind missing, nothing left unmeasured)."""
        return not self.unmeasured and not self.missing_kinds

    def lines(self) -> list[str]:
        """What a user must know beyond the counts: missing kinds, cells left, flagged nodes."""
        out = [f"node kind {kind!r}: no live node in the cluster; its cells were not measured" for kind in self.missing_kinds]
        if self.unmeasured:
            out.append(f"{len(self.unmeasured)} cells not measured (their nodes died): rerun to measure them")
        if self.retried:
            out.append(f"{self.retried} cells moved to another node after theirs died")
        out += ["warning: " + flag.describe() for flag in self.flags]
        return out


@dataclass
class _Agent:
    hello: NodeHello
    handle: Any
    busy: bool = False


def run_cells(cells: Sequence[FleetCell], address: str, *, db: str | os.PathLike[str], budget: Budget = Budget(), timeout: float = 600.0,
              force: bool = False, max_attempts: int = 3, threshold: float = DEFAULT_THRESHOLD, log: Callable[[str], None] = lambda m: None,
              progress: Callable[[SweepEvent], None] | None = None) -> FleetSummary:
    """Measure ``cells`` on the Ray cluster at ``address`` into ``db`` (resumable).

    Args:
        cells: the configurations, each with the node kind (a custom resource or label) to run on.
        address: the Ray cluster (``HOST:6379``, ``ray://HOST:10001`` or ``auto``).
        db: the SQLite results file; only this process writes it.
        budget, timeout: as for `ortkit.profiler.profile`.
        force: measure again what the database already holds.
        max_attempts: how many nodes may die under one cell before it is left to the next run.
        threshold: relative calibration slowdown within a kind that flags a node.
        log, progress: one line per stage; a `SweepEvent` per cell.

    Raises:
        FleetError: the cluster cannot be reached, or a node runs another ortkit/onnxruntime.
        StoreError: the database cannot be used.
    """
    import ray

    summary = FleetSummary(db=str(db))
    with ResultStore(db) as store:
        if not store.writable:
            raise FleetError(f"results database {db} is read-only; choose another --db")
        done = {} if force else {r.spec.spec_hash: r for r in store.results() if r.status in _DONE}
    todo: list[FleetCell] = []
    for cell in cells:
        if cell.spec.spec_hash in done:
            summary.results.append(done[cell.spec.spec_hash])
            summary.resumed += 1
        else:
            todo.append(cell)
    log(f"{len(cells)} cells: {summary.resumed} already in {db}, {len(todo)} to measure")
    if not todo:
        return summary
    owned = connect(address)
    try:
        agents = _start_agents(sorted({c.kind for c in cells}), summary, log)
        _calibrate(agents, summary, db, threshold, log)
        _dispatch(todo, agents, summary, db, budget, timeout, max_attempts, log, progress)
        for agent in agents:
            try:
                ray.get(agent.handle.close.remote(), timeout=30)
            except ray.exceptions.RayError:
                pass  # a dead node's cache went with it
            # the agent holds its node's CPUs: free them now, also when the caller stays connected
            ray.kill(agent.handle)
    finally:
        if owned:
            ray.shutdown()
    return summary


def _start_agents(kinds: Sequence[str], summary: FleetSummary, log: Callable[[str], None]) -> list[_Agent]:
    """One agent per live node of each wanted kind, holding all its CPUs; their versions checked."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(NodeAgent)
    agents = []
    for kind in kinds:
        nodes = nodes_of_kind(kind)
        if not nodes:
            summary.missing_kinds.append(kind)
            log(f"the cluster has no live node of kind {kind!r}: its cells are not measured (start one with "
                f"ray start --address ... --resources '{{\"{kind}\": 1}}')")
            continue
        for node in nodes:
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            handle = remote.options(num_cpus=cpus, max_restarts=0, max_task_retries=0,
                                    scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(kind, cpus)
            agents.append(_Agent(None, handle))  # type: ignore[arg-type]
    driver = Environment.from_dict(worker_environment(None))
    alive = []
    for agent in agents:
        try:
            agent.hello = ray.get(agent.handle.hello.remote(), timeout=300)
        except ray.exceptions.RayError as error:
            log(f"a node did not start its agent ({type(error).__name__}); it is left out")
            continue
        check_versions(driver, agent.hello)
        alive.append(agent)
        summary.nodes.append(agent.hello)
        log(f"node {agent.hello.node_id[:12]} ({agent.hello.kind}, {agent.hello.hostname}, {agent.hello.cpus} CPUs) ready")
    return alive


def _calibrate(agents: list[_Agent], summary: FleetSummary, db: str | os.PathLike[str], threshold: float, log: Callable[[str], None]) -> None:
    """Every node measures the same workload before its cells; a node that dies here is dropped."""
    import ray

    refs = {agent.handle.calibrate.remote(): agent for agent in agents}
    for ref, agent in refs.items():
        try:
            summary.calibrations.append(ray.get(ref))
        except ray.exceptions.RayActorError:
            agents.remove(agent)
            log(f"node {agent.hello.node_id[:12]} died during calibration; it is left out")
        except ray.exceptions.RayTaskError as error:
            raise _cause(error) from None
    record_calibration(db, summary.calibrations)
    summary.flags = flag_nodes(summary.calibrations, threshold)
    for flag in summary.flags:
        log("warning: " + flag.describe())


def _blocks(todo: list[FleetCell]) -> dict[str, deque[tuple[list[FleetCell], int]]]:
    """Per kind, the blocks to measure (cells of one shape together), each with its attempt count."""
    groups: dict[tuple[Any, ...], list[FleetCell]] = {}
    for index, cell in enumerate(todo):
        key = (cell.kind, "clients", index) if cell.spec.concurrency > 1 else (cell.kind, block_key(cell.spec))
        groups.setdefault(key, []).append(cell)
    queues: dict[str, deque[tuple[list[FleetCell], int]]] = {}
    for block in groups.values():
        queues.setdefault(block[0].kind, deque()).append((block, 0))
    return queues


def _dispatch(todo: list[FleetCell], agents: list[_Agent], summary: FleetSummary, db: str | os.PathLike[str], budget: Budget,
              timeout: float, max_attempts: int, log: Callable[[str], None], progress: Callable[[SweepEvent], None] | None) -> None:
    """Hand each idle agent the next block of its kind; store each result as it arrives."""
    import ray

    queues = _blocks(todo)
    models: dict[str, Any] = {}  # sha256 -> object ref: each file enters the object store once
    inflight: dict[Any, tuple[_Agent, list[FleetCell], int]] = {}
    total, index = len(todo), 0
    with ResultStore(db) as store:
        while True:
            for agent in agents:
                queue = queues.get(agent.hello.kind)
                if agent.busy or not queue:
                    continue
                block, attempts = queue.popleft()
                for cell in block:
                    if cell.spec.model_sha256 not in models:
                        models[cell.spec.model_sha256] = ray.put(Path(cell.spec.model).read_bytes())
                    if progress:
                        progress(SweepEvent(index, total, "start", cell.spec))
                files = [models[sha] for sha in dict.fromkeys(c.spec.model_sha256 for c in block)]
                if block[0].spec.concurrency > 1:
                    ref = agent.handle.measure.remote(block[0].spec, budget, timeout, files[0])
                else:
                    ref = agent.handle.measure_block.remote([c.spec for c in block], budget, timeout, *files)
                inflight[ref] = (agent, block, attempts)
                agent.busy = True
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            agent, block, attempts = inflight.pop(ready[0])
            agent.busy = False
            try:
                answer = ray.get(ready[0])
            except ray.exceptions.RayTaskError as error:
                raise _cause(error) from None
            except ray.exceptions.RayError as error:
                # the node (or its agent) died: only this block was running there
                agents.remove(agent)
                summary.retried += len(block)
                log(f"node {agent.hello.node_id[:12]} ({agent.hello.kind}) lost ({type(error).__name__}); "
                    f"{len(block)} cells ({block[0].spec.describe()}{' and others of its shape' if len(block) > 1 else ''}) go back to the queue")
                if attempts + 1 < max_attempts:
                    queues[block[0].kind].appendleft((block, attempts + 1))
                else:
                    summary.unmeasured.extend(block)
                continue
            for cell, result in zip(block, answer if isinstance(answer, list) else [answer]):
                store.add(result)
                record_measured_by(db, result.key, agent.hello.node_id, agent.hello.kind, agent.hello.hostname)
                summary.results.append(result)
                summary.measured_by[result.key] = agent.hello.node_id
                summary.measured += 1
                if progress:
                    progress(SweepEvent(index, total, "done", cell.spec, result))
                index += 1
    for kind, queue in queues.items():
        cells = [cell for block, _ in queue for cell in block]
        if kind in summary.missing_kinds:
            summary.unmeasured.extend(cells)
            continue
        if cells and not any(a.hello.kind == kind for a in agents):
            log(f"no live node of kind {kind!r} is left: {len(cells)} cells not measured (a rerun measures them)")
        summary.unmeasured.extend(cells)


def _cause(error: Any) -> Exception:
    """The exception an agent raised: a user error as it is, anything else as a bug."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, OrtkitError):
        return cause
    return InternalError(f"a fleet node failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
