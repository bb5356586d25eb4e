"""The OpenVINO EP, in its own environment (onnxruntime-openvino excludes the CPU wheel): outputs
match the CPU EP, the label is the EP that ran, and the profiler's worker measures there.

These run in CI: the `openvino_python` fixture creates the environment when it is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ortkit.profiler import targets
from ortkit.profiler._isolation import run_isolated, worker_environment
from ortkit.profiler._spec import Budget, ProfileSpec, file_sha256
from ortkit.runtime import Runtime

from .conftest import FEATURES, run_in

pytestmark = [pytest.mark.openvino, pytest.mark.slow]

OV = "OpenVINOExecutionProvider"
# (batch, time): a single step, odd sizes, and a longer sequence than any "export" length.
SHAPES = [(1, 1), (3, 37), (2, 300)]
TINY_BUDGET = Budget(warmup_runs=1, warmup_time_s=0.0, min_runs=3, max_runs=5, max_time_s=0.5, concurrency_time_s=0.1)


def test_target_probe_sees_the_openvino_distribution(openvino_python: Path, tmp_path: Path) -> None:
    target = targets.add("ov", openvino_python, home=tmp_path)
    assert target.distribution == "onnxruntime-openvino"
    assert target.default_ep == "openvino"
    assert target.eps[0] == "openvino" and "cpu" in target.eps
    assert targets.resolve("ov", home=tmp_path).python == str(openvino_python)
    env = worker_environment(str(openvino_python))
    assert env["onnxruntime_distribution"] == "onnxruntime-openvino"
    assert OV in env["execution_providers"]
    assert env["torch"] is None  # a target never pulls torch


@pytest.mark.parametrize("name", ["lstm2", "gru2", "tcn"])
def test_openvino_outputs_match_the_cpu_ep(name: str, zoo_like: dict[str, Path], openvino_python: Path, tmp_path: Path) -> None:
    model = zoo_like[name]
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((b, t, FEATURES)).astype(np.float32) for b, t in SHAPES]
    cpu = Runtime(model, providers="cpu")
    expected = [cpu.run({"x": x})["y"] for x in xs]
    got, report = run_in(openvino_python, model, xs, "openvino", tmp_path)
    # The label is the EP that ran: OpenVINO is active and holds every compute node (strict
    # Runtime would have raised on a CPU fallback).
    assert report["providers"][0] == OV
    assert report["node_assignment"].get(OV, 0) > 0
    assert report["node_assignment"].get("CPUExecutionProvider", 0) == 0
    for (b, t), want, have in zip(SHAPES, expected, got):
        assert have.shape == want.shape == (b, 3)
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} b={b} t={t}")


def test_cpu_ep_in_the_openvino_environment_is_labelled_cpu(zoo_like: dict[str, Path], openvino_python: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((2, 20, FEATURES)).astype(np.float32)
    (got,), report = run_in(openvino_python, zoo_like["tcn"], [x], "cpu", tmp_path)
    assert report["providers"] == ["CPUExecutionProvider"]
    assert set(report["node_assignment"]) == {"CPUExecutionProvider"}
    np.testing.assert_allclose(got, Runtime(zoo_like["tcn"], providers="cpu").run({"x": x})["y"], rtol=1e-5, atol=1e-5)


def _request(model: Path, ep: str) -> dict:
    spec = ProfileSpec(model=str(model), model_sha256=file_sha256(model), model_label=model.stem, ep=ep, batch=2, time=50, threads=1)
    return {"spec": spec.to_dict(), "budget": TINY_BUDGET.to_dict()}


@pytest.mark.parametrize("name", ["lstm2", "tcn"])
def test_profiler_worker_measures_under_openvino_in_the_target(name: str, zoo_like: dict[str, Path], openvino_python: Path) -> None:
    result = run_isolated(_request(zoo_like[name], "openvino"), python=str(openvino_python), timeout=300)
    assert result.status == "ok", result.error
    assert len(result.samples_ms) >= 3 and all(s > 0 for s in result.samples_ms)
    assert result.metrics.active_providers[0] == OV
    assert dict(result.metrics.node_assignment).get(OV, 0) > 0


def test_cuda_in_the_openvino_target_is_skipped_with_the_reason(zoo_like: dict[str, Path], openvino_python: Path) -> None:
    result = run_isolated(_request(zoo_like["tcn"], "cuda"), python=str(openvino_python), timeout=300)
    assert result.status == "skipped"
    assert not result.samples_ms
    assert "CUDAExecutionProvider" in result.error and "onnxruntime-openvino" in result.error


def test_openvino_is_not_in_the_dev_environment(zoo_like: dict[str, Path]) -> None:
    """The reason targets exist: the CPU wheel has no OpenVINO EP, and asking for it is an error at
    session creation, never a CPU number labelled OpenVINO."""
    from ortkit.runtime import ProviderUnavailable

    if "onnxruntime-openvino" in (targets.probe(sys.executable).distribution or ""):
        pytest.skip("this interpreter itself has onnxruntime-openvino")
    with pytest.raises(ProviderUnavailable, match="OpenVINOExecutionProvider.*not in this onnxruntime build"):
        Runtime(zoo_like["tcn"], providers="openvino")


def test_profile_sweep_through_a_target_stores_openvino_rows(zoo_like: dict[str, Path], openvino_python: Path, tmp_path: Path) -> None:
    """The wiring a target gives the profiler: its python runs the workers, its default EP is
    measured, its name is a tag. Stored rows carry the environment of the target, not this one."""
    from ortkit.profiler._store import ResultStore
    from ortkit.profiler._sweep import profile

    target = targets.add("ov", openvino_python, home=tmp_path)
    db = tmp_path / "results.db"
    profile([zoo_like["gru2"]], [target.default_ep, "cpu"], [2], [40], [1], db=db, python=target.python,
            budget=TINY_BUDGET, tags=(("target", target.name),), timeout=300)
    with ResultStore(db) as store:
        rows = {r.spec.ep: r for r in store.results()}
    assert set(rows) == {"openvino", "cpu"}
    for ep, provider in (("openvino", OV), ("cpu", "CPUExecutionProvider")):
        row = rows[ep]
        assert row.status == "ok", row.message
        assert row.metrics.active_providers[0] == provider
        assert dict(row.metrics.node_assignment).get(provider, 0) > 0
        assert row.environment.onnxruntime_distribution == "onnxruntime-openvino"
        assert dict(row.spec.tags)["target"] == "ov"
