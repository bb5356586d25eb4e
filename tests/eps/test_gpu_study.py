"""benchmarks/gpu_study.sh --dry-run: the GPU study's whole pipeline on a CPU machine. CUDA and
TensorRT rows are recorded as unavailable with the reason (never a number); CPU rows are measured
with their node assignment; the report names the card and lists what was not measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from ortkit.profiler._store import ResultStore

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="a dry run is for CPU builds"),
]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("gpu-study")
    done = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_study.sh"), "--dry-run", "--out", str(out),
         "--shapes", "2x16", "--hidden", "16", "--runs", "3", "--max-seconds", "0.5"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable}, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_dry_run_records_every_configuration(dry_run: Path) -> None:
    with ResultStore(dry_run / "results.db") as store:
        results = store.results()
    seen = {(r.spec.model_label, r.spec.runner, r.spec.ep, dict(r.spec.tags)["mode"]) for r in results}
    for model in ("lstm2", "gru2", "tcn4"):
        for config in (("ort", "cpu", "host"), ("ort", "cuda", "iobinding"), ("ort", "tensorrt", "iobinding"),
                       ("torch-eager", "cpu", "host"), ("torch-eager", "cuda", "device")):
            assert (model, *config) in seen
    assert ("tcn4", "ort", "cuda", "cuda-graph") in seen
    assert ("lstm2", "ort", "cuda", "cuda-graph") not in seen  # not legal for the RNN exports


def test_gpu_rows_are_unavailable_with_the_reason_and_no_number(dry_run: Path) -> None:
    with ResultStore(dry_run / "results.db") as store:
        gpu = [r for r in store.results() if r.spec.ep in ("cuda", "tensorrt")]
    assert gpu
    for result in gpu:
        assert result.status == "unavailable", result.spec.describe()
        assert result.samples_ms == () and result.stats is None
        assert result.message.startswith("dry run on a CPU machine: ")
    ort_cuda = next(r for r in gpu if r.spec.runner == "ort" and r.spec.ep == "cuda")
    assert "CUDAExecutionProvider" in ort_cuda.message and "not in this onnxruntime build" in ort_cuda.message
    trt = next(r for r in gpu if r.spec.ep == "tensorrt")
    assert "TensorrtExecutionProvider" in trt.message
    torch_cuda = next(r for r in gpu if r.spec.runner == "torch-eager")
    assert "sees no CUDA device" in torch_cuda.message


def test_cpu_rows_are_measured_and_labelled(dry_run: Path) -> None:
    with ResultStore(dry_run / "results.db") as store:
        cpu = [r for r in store.results() if r.spec.ep == "cpu"]
    assert len(cpu) == 6
    for result in cpu:
        assert result.status == "ok" and len(result.samples_ms) >= 3 and all(s > 0 for s in result.samples_ms)
        assert result.spec.batch == 2 and result.spec.time == 16
    for result in (r for r in cpu if r.spec.runner == "ort"):
        assert result.metrics.active_providers == ("CPUExecutionProvider",)
        assert dict(result.metrics.node_assignment).get("CPUExecutionProvider", 0) > 0


def test_report_names_the_card_and_the_missing_rows(dry_run: Path) -> None:
    text = (dry_run / "report.md").read_text()
    assert text.startswith("# GPU study subset on no GPU (") and "DRY RUN" in text
    assert "## Not measured" in text
    assert text.count("| unavailable | dry run on a CPU machine:") == 10  # 3 models x 3 GPU rows + the TCN's CUDA graph
    for model in ("lstm2", "gru2", "tcn4"):
        assert f"## {model}" in text
