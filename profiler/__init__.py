"""Measure, store and report: the profiler. Its worker side imports only numpy, onnx, onnxruntime."""

from __future__ import annotations

from ortkit.profiler._engine import Measurement, measure
from ortkit.profiler._environment import Environment, collect_environment
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._stats import Stats
from ortkit.profiler._store import Metrics, Result, ResultStore, StoreError
from ortkit.profiler._sweep import ModelSource, SweepEvent, SweepSummary, profile

__all__ = [
    "Budget",
    "Environment",
    "Measurement",
    "Metrics",
    "ModelSource",
    "ProfileSpec",
    "Result",
    "ResultStore",
    "Stats",
    "StoreError",
    "SweepEvent",
    "SweepSummary",
    "collect_environment",
    "measure",
    "profile",
]
