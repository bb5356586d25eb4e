"""The PyTorch baseline: the same zoo model at the same shapes, measured the same way."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ortkit.profiler import Budget, profile

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_eager_baseline_next_to_ort(tmp_path: Path, fast: Budget) -> None:
    from ortkit.exporter import export

    model = export("gru", tmp_path / "gru", overrides={"hidden_size": 16}).model_path
    summary = profile([model], ["cpu"], [2], [8], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast)
    ort_result, torch_result = summary.results
    assert ort_result.spec.runner == "ort" and torch_result.spec.runner == "torch-eager"
    assert torch_result.status == "ok", torch_result.message
    assert torch_result.spec.zoo_name == "gru" and dict(torch_result.spec.zoo_overrides)["hidden_size"] == 16
    assert torch_result.metrics.input_shapes == ort_result.metrics.input_shapes
    assert torch_result.metrics.active_providers == ("torch:cpu",)
    assert torch_result.stats is not None and torch_result.stats.p50 > 0
    assert torch_result.metrics.throughput_timesteps_s == pytest.approx(2 * 8 / (torch_result.stats.p50 / 1e3))
