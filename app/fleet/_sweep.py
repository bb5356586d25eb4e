"""Sweep files and studies on a fleet: the same grid as a local sweep, one node kind per target."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ortkit.fleet._calibration import DEFAULT_THRESHOLD
from ortkit.fleet._cluster import FleetError
from ortkit.fleet._driver import FleetCell, FleetSummary, run_cells

__all__ = ["fleet_cells", "FleetMeasure", "run_fleet_sweep", "study_targets"]


def fleet_cells(files: Sequence[Any], targets: Sequence[Any], grid: Any, *, op_profile: bool = False,
                log: Callable[[str], None] = lambda m: None) -> list[FleetCell]:
    """The cells of ``files`` x ``targets`` x ``grid`` (`ortkit.study.ModelFile`s, `TargetEntry`s
    with a ``node`` kind, a `Grid`), tagged as a local sweep tags them, with ``target`` = the kind.

    Raises:
        FleetError: a target names no node kind.
        UsageError: a model cannot take a shape of the grid.
    """
    from ortkit.base import file_sha256
    from ortkit.profiler import ModelSource, plan

    for index, target in enumerate(targets):
        if target.node is None:
            raise FleetError(f"targets[{index}] ({target.ep}) names no node kind: with --ray every [[targets]] entry needs "
                             "node = \"KIND\" (a custom resource or ortkit-kind label of the cluster's nodes)")
    if grid.baseline:
        log("the PyTorch baseline runs only in local sweeps: grid.baseline is ignored on the fleet")
    cells = []
    for target in targets:
        for file in files:
            source = ModelSource(path=str(file.path), label=file.label, sha256=file_sha256(file.path), zoo_name=file.zoo_name,
                                 zoo_overrides=file.overrides, precision=file.precision)
            tags = [("base", file.name), ("target", target.label)]
            tags += [(k, v) for k, v in (("family", file.family), ("task", file.task)) if v]
            options = {target.ep: dict(target.options)} if target.options else None
            if file.streaming:
                calls = [((c,), (c,), (1,)) for c in grid.chunk]
            else:
                calls = [(grid.time, (None,), grid.concurrency)]
            for times, chunks, concurrency in calls:
                specs, notes = plan([source], [target.ep], grid.batch, times, grid.threads, concurrency, chunks, (), op_profile,
                                    tuple(tags), options)
                for note in notes:
                    log(note)
                cells.extend(FleetCell(target.node, spec) for spec in specs)
    return cells


@dataclass(frozen=True)
class FleetMeasure:
    """A drop-in for the local `measure_files` step of `run_sweep`/`run_study` that measures on
    the Ray cluster at ``address`` instead."""

    address: str
    threshold: float = DEFAULT_THRESHOLD
    max_attempts: int = 3

    def __call__(self, files: Sequence[Any], targets: Sequence[Any], grid: Any, *, db: Any, budget: Any, timeout: float = 600.0,
                 op_profile: bool = False, force: bool = False, log: Callable[[str], None] = lambda m: None,
                 progress: Callable[[Any], None] | None = None) -> list[FleetSummary]:
        cells = fleet_cells(files, targets, grid, op_profile=op_profile, log=log)
        summary = run_cells(cells, self.address, db=db, budget=budget, timeout=timeout, force=force, max_attempts=self.max_attempts,
                            threshold=self.threshold, log=log, progress=progress)
        return [summary]


def run_fleet_sweep(sweep: Any, address: str, *, db: str | os.PathLike[str] | None = None, report: str | os.PathLike[str] | None = None,
                    force: bool = False, threshold: float = DEFAULT_THRESHOLD, log: Callable[[str], None] = lambda m: None,
                    progress: Callable[[Any], None] | None = None) -> Any:
    """`ortkit.study.run_sweep` with every cell measured on the Ray cluster at ``address``.

    Returns:
        The `SweepRun`; its ``summaries`` hold one `FleetSummary`.
    """
    from ortkit.study import run_sweep

    return run_sweep(sweep, db=db, report=report, force=force, log=log, progress=progress, measure=FleetMeasure(address, threshold))


def study_targets(address: str | None, nodes: Sequence[str]) -> list[Any]:
    """The targets of `ortkit study --ray ADDRESS --node KIND...`: the CPU EP on each kind.

    Raises:
        UsageError: --ray without --node, or --node without --ray.
    """
    from ortkit.base import UsageError
    from ortkit.study import TargetEntry

    if address is None:
        raise UsageError("--node names a node kind of a Ray cluster: add --ray ADDRESS")
    if not nodes:
        raise UsageError("--ray needs at least one --node KIND (a custom resource or ortkit-kind label of the cluster's nodes)")
    return [TargetEntry("cpu", node=kind) for kind in dict.fromkeys(nodes)]
