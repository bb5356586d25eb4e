"""Synthetic results with known answers, written with the real ResultStore, for the report and
compare tests.

Latency laws (ms, batch b, length T): lstm = 0.01 * b**0.5 * T (exponent 1), gru = 0.008 * b**0.5 * T,
tcn = 0.4 * b**0.5 * T**0.5 (exponent 0.5). tcn crosses lstm where 0.4 * sqrt(T) = 0.01 * T, i.e. at
T = 1600, and gru where 0.4 * sqrt(T) = 0.008 T, i.e. at T = 2500. INT8 files run 2x faster and
score 0.004 lower; PyTorch eager runs 2x slower than onnxruntime.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ortkit.profiler._environment import Environment
from ortkit.report._report import ReportPaths, write_report
from ortkit.report._reportdata import Accuracy, Dataset, load_dataset, record_accuracy
from ortkit.profiler._spec import ProfileSpec
from ortkit.profiler._store import Metrics, Result, ResultStore

ENVIRONMENT = Environment.from_dict({
    "python": "3.11.2", "ortkit": "0.1.0", "numpy": "2.4", "onnx": "1.23", "torch": "2.13.0",
    "onnxruntime_distribution": "onnxruntime", "onnxruntime": "1.32.0", "os": "Linux 6.1", "machine": "x86_64",
    "cpu_model": "AMD EPYC (synthetic)", "cpu_cores_logical": 2, "cpu_cores_physical": 1, "memory_bytes": 8 * 2**30,
    "execution_providers": ["CPUExecutionProvider"], "gpus": [], "git_revision": "abc1234",
})
FAMILY = {"lstm": "rnn", "gru": "rnn", "tcn": "cnn"}
LAWS = {"lstm": lambda b, t: 0.01 * b**0.5 * t, "gru": lambda b, t: 0.008 * b**0.5 * t, "tcn": lambda b, t: 0.4 * b**0.5 * t**0.5}
TIMES = (16, 64, 256, 1024, 4096)
BATCHES = (1, 8)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_result(model: str, batch: int, time: int | None, *, precision: str = "fp32", runner: str = "ort", chunk: int | None = None,
                factor: float = 1.0, status: str = "ok", message: str | None = None, noise: float = 0.01, seed: int = 0,
                environment: Environment = ENVIRONMENT, ep: str = "cpu", op_shares: dict[str, float] | None = None, **metrics: Any) -> Result:
    label = model if precision == "fp32" else f"{model}-{precision}"
    spec = ProfileSpec(model=f"/tmp/{label}.onnx", model_sha256=sha(label), model_label=label, ep=ep, batch=batch, time=time,
                       threads=2, precision=precision, chunk=chunk, runner=runner, zoo_name=model,
                       tags=(("family", FAMILY[model]), ("task", "seq-digits")))
    samples: tuple[float, ...] = ()
    if status == "ok":
        steps = chunk if chunk is not None else time
        center = LAWS[model](batch, steps) * factor
        rng = np.random.default_rng([seed, batch, time or 0, chunk or 0, len(label), len(runner)])
        samples = tuple(float(v) for v in center * (1.0 + rng.normal(0.0, noise, 60)))
    return Result(spec=spec, environment=environment, status=status, samples_ms=samples, message=message,
                  metrics=Metrics(**metrics), op_profile={"op_type_share": op_shares} if op_shares else None)


def synthetic_results(noise: float = 0.01, seed: int = 0, factor: dict[str, float] | None = None,
                      environment: Environment = ENVIRONMENT) -> list[Result]:
    factor = factor or {}
    out = []
    for model in LAWS:
        f = factor.get(model, 1.0)
        for batch in BATCHES:
            for time in TIMES:
                shares = {"LSTM" if FAMILY[model] == "rnn" else "Conv": 0.8, "Gemm": 0.15, "Add": 0.05}
                out.append(make_result(model, batch, time, factor=f, noise=noise, seed=seed, environment=environment,
                                       peak_rss_bytes=int((50 + 0.01 * batch * time) * 2**20), op_shares=shares))
            out.append(make_result(model, batch, 256, precision="int8-dynamic", factor=0.5 * f, noise=noise, seed=seed, environment=environment))
            for time in (256, 1024):
                out.append(make_result(model, batch, time, runner="torch-eager", factor=2.0 * f, noise=noise, seed=seed, environment=environment))
        for chunk in (1, 16):
            out.append(make_result(model, 1, 64, chunk=chunk, factor=3.0 * f, noise=noise, seed=seed, environment=environment))
    out.append(make_result("lstm", 1, 64, ep="openvino", status="skipped", environment=environment,
                           message="openvino (OpenVINOExecutionProvider) is not available in this environment"))
    out.append(make_result("gru", 64, 4096, status="failed", environment=environment,
                           message="worker killed by signal 9 (SIGKILL)\nout of memory"))
    out.append(make_result("tcn", 2, 64, noise=0.5, seed=seed, environment=environment))  # unstable
    return out


def synthetic_accuracy() -> list[Accuracy]:
    out = []
    for model, value in (("lstm", 0.97), ("gru", 0.965), ("tcn", 0.96)):
        for precision, delta in (("fp32", 0.0), ("int8-dynamic", -0.004)):
            label = model if precision == "fp32" else f"{model}-{precision}"
            out.append(Accuracy(sha(label), label, "seq-digits", "accuracy", True, value + delta, precision))
    return out


def build_db(path: Path, results: list[Result] | None = None, accuracy: bool = True) -> Path:
    with ResultStore(path) as store:
        for result in results if results is not None else synthetic_results():
            store.add(result)
    if accuracy:
        record_accuracy(path, synthetic_accuracy())
    return path


def other_environment() -> Environment:
    return dataclasses.replace(ENVIRONMENT, cpu_model="Intel Xeon (synthetic)")


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(tmp_path_factory.mktemp("db") / "results.db")


@pytest.fixture(scope="session")
def synthetic(synthetic_db: Path) -> Dataset:
    return load_dataset(synthetic_db)


@pytest.fixture(scope="session")
def synthetic_report(synthetic: Dataset, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """The synthetic dataset's report, written once per session (drawing figures takes seconds)."""
    from ortkit.report import Scenario

    scenarios = (Scenario("live stream", "streaming", "seq-digits", chunk=1, step_ms=1.0),
                 Scenario("batch scoring", "offline", "seq-digits", length=1024))
    return write_report(synthetic, tmp_path_factory.mktemp("report"), scenarios=scenarios)


class Synth:
    """The builders above, handed to tests as a fixture (importlib mode cannot import conftest)."""

    ENVIRONMENT = ENVIRONMENT
    LAWS = LAWS
    make_result = staticmethod(make_result)
    synthetic_results = staticmethod(synthetic_results)
    build_db = staticmethod(build_db)
    other_environment = staticmethod(other_environment)


@pytest.fixture(scope="session")
def synth() -> type[Synth]:
    return Synth
