"""The study pipeline and sweep files: train, export, measure and report many configurations.

Application layer: it may use every package below it, through their public names.
"""

from __future__ import annotations

from ortkit.study._models import export_zoo_model, resolve_models
from ortkit.study._study import DEFAULT, QUICK, StudyPlan, TaskPlan, TunePlan, console_progress, discover_targets, run_study
from ortkit.study._plan import BUILTIN_PLANS, PlanFileError, builtin_plan, load_plan, parse_plan
from ortkit.study._sweepfile import (
    Grid,
    ModelEntry,
    ModelFile,
    SweepFile,
    SweepFileError,
    TargetEntry,
    export_variants,
    load_sweep,
    measure_files,
    parse_sweep,
    record_export_failures,
    run_sweep,
)

__all__ = [
    "BUILTIN_PLANS",
    "DEFAULT",
    "PlanFileError",
    "builtin_plan",
    "load_plan",
    "parse_plan",
    "Grid",
    "ModelEntry",
    "ModelFile",
    "QUICK",
    "StudyPlan",
    "TunePlan",
    "SweepFile",
    "SweepFileError",
    "TargetEntry",
    "TaskPlan",
    "console_progress",
    "discover_targets",
    "export_variants",
    "export_zoo_model",
    "load_sweep",
    "measure_files",
    "parse_sweep",
    "record_export_failures",
    "resolve_models",
    "run_study",
    "run_sweep",
]
