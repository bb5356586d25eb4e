"""Profiling a fleet: a sweep's cells measured on the nodes of a Ray cluster, one store.

Each node kind (a custom resource or ``ortkit-kind`` label that a sweep file's ``[[targets]]``
entry names with ``node = "KIND"``) gets one agent per node, holding all the node's CPUs, that
measures through the profiler's own worker processes. Models travel through Ray's object store
and are checked by sha256 on arrival; every node runs the same calibration workload first; the
driver alone writes the SQLite store, one result at a time. See docs/fleet.md.
"""

from __future__ import annotations

from ortkit.fleet._calibration import (DEFAULT_THRESHOLD, Calibration, NodeFlag, calibration_model, flag_nodes, read_calibrations,
                                       read_measured_by)
from ortkit.fleet._cluster import KIND_LABEL, FleetError, check_versions
from ortkit.fleet._driver import FleetCell, FleetSummary, run_cells
from ortkit.fleet._node import ModelTransferError, NodeAgent, NodeHello
from ortkit.fleet._sweep import FleetMeasure, fleet_cells, run_fleet_sweep, study_targets

__all__ = [
    "Calibration",
    "calibration_model",
    "check_versions",
    "DEFAULT_THRESHOLD",
    "FleetCell",
    "fleet_cells",
    "FleetError",
    "FleetMeasure",
    "FleetSummary",
    "flag_nodes",
    "KIND_LABEL",
    "ModelTransferError",
    "NodeAgent",
    "NodeFlag",
    "NodeHello",
    "read_calibrations",
    "read_measured_by",
    "run_cells",
    "run_fleet_sweep",
    "study_targets",
]
