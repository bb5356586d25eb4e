"""The worker measures real onnxruntime sessions in a fresh process and reports every failure as
data."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import numpy as np

from ortkit.profiler import PooledRun, WorkerRequest
from ortkit.profiler._isolation import run_isolated
from ortkit.profiler._spec import Budget, ProfileSpec, file_sha256
from ortkit.profiler._worker import run_concurrent



def _spec(path: Path, **kw: object) -> ProfileSpec:
    return ProfileSpec(model=str(path), model_sha256=file_sha256(path), model_label=path.stem, **kw)  # type: ignore[arg-type]


def test_ort_worker_reports_latency_throughput_memory_flops_and_op_profile(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    model = build.lstm(tmp_path / "lstm.onnx", hidden=16, features=4)
    spec = _spec(model, batch=2, time=8, threads=1, op_profile=True)
    out = run_isolated(WorkerRequest(spec, fast), timeout=120)
    assert out.status == "ok", out
    samples = out.samples_ms
    assert len(samples) >= fast.min_runs and all(s > 0 for s in samples)
    m = out.metrics.to_dict()
    assert m["active_providers"][0] == "CPUExecutionProvider"
    assert m["input_shapes"] == {"x": [2, 8, 4]}
    assert m["session_create_ms"] > 0 and m["first_run_ms"] > 0
    assert m["peak_rss_bytes"] > 10 * 2**20 and m["rss_growth_bytes"] is not None
    # the bare process (numpy, onnx, onnxruntime loaded) is most of a small model's peak
    assert 20 * 2**20 < m["baseline_rss_bytes"] < m["peak_rss_bytes"]
    assert m["model_size_bytes"] == model.stat().st_size
    # LSTM FLOPs: 2 * T * B * 4H * (F + H) multiply-adds at least; counted, not zero.
    assert m["flops"] >= 2 * 8 * 2 * 4 * 16 * (4 + 16) and m["uncounted_ops"] == ()
    # A process run carries no derived figure: throughput and GFLOP/s come once, from the pooled
    # samples of every process (PooledRun.metrics).
    assert m["throughput_samples_s"] is None and m["gflops_s"] is None
    pooled = PooledRun.pool([out]).metrics(spec)
    assert pooled.throughput_samples_s == pytest.approx(2 * 1e3 / float(np.median(samples)))
    assert pooled.throughput_timesteps_s == pytest.approx(pooled.throughput_samples_s * 8)
    assert pooled.gflops_s == pytest.approx(m["flops"] * pooled.throughput_samples_s / 2 / 1e9)
    prof = out.op_profile
    assert "LSTM" in prof["op_type_share"] and sum(prof["op_type_share"].values()) == pytest.approx(1.0)
    assert prof["nodes_per_ep"] == {"CPUExecutionProvider": 3} and prof["memcpy_nodes"] == 0


def test_the_models_own_memory_is_the_peak_above_the_bare_process(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    # The LSTM's output at batch 16, T = 40000, hidden 16 alone is 16 * 40000 * 16 * 4 bytes = 39 MiB.
    model = build.lstm(tmp_path / "lstm.onnx", hidden=16, features=4)
    runs = [run_isolated(WorkerRequest(_spec(model, batch=batch, time=time, threads=1), fast), timeout=300) for batch, time in ((1, 8), (16, 40000))]
    assert all(run.status == "ok" for run in runs), runs
    small, large = (run.metrics for run in runs)
    assert abs(small.baseline_rss_bytes - large.baseline_rss_bytes) < 16 * 2**20  # the same bare process
    own_small = small.peak_rss_bytes - small.baseline_rss_bytes
    own_large = large.peak_rss_bytes - large.baseline_rss_bytes
    assert own_large - own_small > 39 * 2**20


def test_concurrency_runs_clients_on_one_session(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    out = run_isolated({"spec": _spec(model, batch=4, threads=1, concurrency=3).to_dict(), "budget": fast.to_dict()}, timeout=120)
    assert out.status == "ok", out
    assert out.metrics.stop_reason == "concurrency"
    assert out.metrics.concurrency_calls >= 3 and out.metrics.concurrency_wall_s > 0
    pooled = PooledRun.pool([out, out]).metrics(_spec(model, batch=4, threads=1, concurrency=3))
    # All clients together, over all processes: calls x batch / wall time.
    assert pooled.throughput_samples_s == pytest.approx(out.metrics.concurrency_calls * 4 / out.metrics.concurrency_wall_s)


def test_run_concurrent_counts_every_call() -> None:
    calls = []
    latencies, wall, count = run_concurrent(lambda: calls.append(1), clients=4, duration_s=0.05)
    assert count == len(calls) == len(latencies) and count >= 4 and wall >= 0.05


def test_exception_is_a_failed_record_with_its_message(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    model = build.failing(tmp_path / "bad.onnx")
    out = run_isolated({"spec": _spec(model, batch=2).to_dict(), "budget": fast.to_dict()}, timeout=120)
    assert out.status == "failed" and out.exit_code == 1
    assert "RunFailed" in out.error and "reshape" in out.error.lower()
    assert not out.samples_ms


def test_unavailable_ep_is_skipped_never_measured_on_cpu(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    out = run_isolated({"spec": _spec(model, ep="tensorrt").to_dict(), "budget": fast.to_dict()}, timeout=120)
    assert out.status == "skipped", out
    assert "tensorrt" in out.error.lower() or "Tensorrt" in out.error
    assert not out.samples_ms


def test_torch_baseline_without_a_zoo_source_is_unavailable(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    out = run_isolated({"spec": _spec(model, runner="torch-eager").to_dict(), "budget": fast.to_dict()}, timeout=120)
    assert out.status in ("unavailable",), out


def test_ort_worker_path_never_imports_torch(tmp_path: Path, fast: Budget, build: SimpleNamespace) -> None:
    import json
    import subprocess
    import sys

    model = build.matmul(tmp_path / "mm.onnx")
    request = json.dumps({"spec": _spec(model, threads=1).to_dict(), "budget": fast.to_dict()})
    code = (
        "import sys, json\n"
        "from ortkit.profiler._worker import run_request\n"
        "out = run_request(json.loads(sys.stdin.read()))\n"
        "print(out.status, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=request, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["ok", "False"], done.stderr
