"""Measure, store and report: the profiler. Its worker side imports only numpy, onnx, onnxruntime."""

from __future__ import annotations

from ortkit.profiler._environment import Environment, collect_environment

__all__ = ["Environment", "collect_environment"]
