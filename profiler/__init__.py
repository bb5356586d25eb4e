"""The measurement library: specs, isolated workers, statistics, the results store and targets.

It measures model files and stores what it measured; it never exports, trains or writes reports
(the application layer does). Its worker imports only numpy, onnx and onnxruntime, except for the
PyTorch baseline, which builds the model in torch.
"""

from __future__ import annotations

from ortkit.profiler._engine import Measurement, measure
from ortkit.profiler._environment import Environment, collect_environment
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._stats import Stats
from ortkit.profiler._records import RECORD_SCHEMA, PooledRun, ProcessRun, WorkerRequest
from ortkit.profiler._result import Metrics, Result, derive, throughput
from ortkit.profiler._store import ResultStore, StoreError
from ortkit.profiler._limits import MEMORY_ENV, thread_limit
from ortkit.profiler._storecheck import StoreCheck, StoreRecovery, check_store, recover_store
from ortkit.profiler._sweep import DEFAULT_DB, FAILED_EXIT_CODE, ModelSource, SweepEvent, SweepSummary, measure_processes, profile, resolve_model
from ortkit.profiler._isolation import worker_environment
from ortkit.profiler._plan import plan
from ortkit.profiler._spec import MAX_AXIS
from ortkit.profiler._stats import normal_quantile
from ortkit.profiler._sweep import check_eps, onnx_metadata, parse_list, read_onnx_metadata, worker_target
from ortkit.profiler._sweep import MODES, measure_pending
from ortkit.profiler._rounds import IN_PROGRESS, block_key, measure_interleaved
from ortkit.profiler._noise import QUIET_LOAD_PER_CPU, QUIET_STEAL, NoiseWindow, is_quiet, noise_between, sample_noise
from ortkit.profiler._paired import ROUND_SPREAD_LIMIT, Groups, Ratio, group_ci, paired_ratio, ratio_between, robust_unstable, round_spread
from ortkit.profiler._doctor import NoiseFloor, ThreadFloor, noise_floor
from ortkit.profiler._tuned import TUNED_TAG, tuned_spec, workers_target
from ortkit.profiler import targets
from ortkit.profiler.targets import Target, list_targets
from ortkit.profiler.targets import resolve as resolve_target

__all__ = [
    "Budget",
    "check_eps",
    "check_store",
    "collect_environment",
    "DEFAULT_DB",
    "derive",
    "Environment",
    "FAILED_EXIT_CODE",
    "list_targets",
    "MAX_AXIS",
    "measure",
    "MEMORY_ENV",
    "measure_processes",
    "measure_pending",
    "measure_interleaved",
    "IN_PROGRESS",
    "block_key",
    "MODES",
    "ROUND_SPREAD_LIMIT",
    "Groups",
    "Ratio",
    "group_ci",
    "paired_ratio",
    "ratio_between",
    "robust_unstable",
    "round_spread",
    "NoiseWindow",
    "NoiseFloor",
    "ThreadFloor",
    "noise_floor",
    "QUIET_LOAD_PER_CPU",
    "QUIET_STEAL",
    "noise_between",
    "is_quiet",
    "sample_noise",
    "Measurement",
    "Metrics",
    "ModelSource",
    "normal_quantile",
    "onnx_metadata",
    "parse_list",
    "plan",
    "PooledRun",
    "ProcessRun",
    "profile",
    "read_onnx_metadata",
    "recover_store",
    "ProfileSpec",
    "RECORD_SCHEMA",
    "resolve_target",
    "Target",
    "targets",
    "thread_limit",
    "throughput",
    "TUNED_TAG",
    "tuned_spec",
    "workers_target",
    "resolve_model",
    "Result",
    "ResultStore",
    "Stats",
    "StoreCheck",
    "StoreError",
    "StoreRecovery",
    "SweepEvent",
    "SweepSummary",
    "worker_environment",
    "WorkerRequest",
    "worker_target",
]
