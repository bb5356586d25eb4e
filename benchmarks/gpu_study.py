"""The GPU study subset: 2-layer LSTM/GRU and a TCN, ORT CUDA EP (I/O binding, CUDA graphs for the
TCN) against PyTorch CUDA eager, TensorRT tried and recorded as unavailable when it cannot run.

Run by ``benchmarks/gpu_study.sh`` on a GPU machine, or here
with ``--dry-run``: every configuration is still attempted, the CUDA and TensorRT ones are recorded
as ``skipped``/``unavailable`` with the reason, and the CPU rows (ORT CPU EP, PyTorch CPU eager) are
measured, so the whole pipeline (export, sessions, labels, store, report) runs on a CPU machine.

Results go into an ortkit results database (`ortkit.profiler.ResultStore`) and a Markdown
report that names the card beside every figure. A number is stored under an EP only when that EP
is active in the session and holds the model's compute nodes (`ortkit.runtime.Runtime` checks it);
the node assignment of every ORT configuration is stored and shown.

    python benchmarks/gpu_study.py --out study-gpu [--dry-run] [--shapes 1x100,64x1000] [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

FEATURES = 16
OUTPUTS = 4
DEFAULT_SHAPES = ((1, 100), (1, 1000), (64, 100), (64, 1000))
# One row per (runner, ep, mode). "mode" separates ways of running one EP: host copies vs I/O binding
# vs CUDA graphs. It is stored as a tag, so it is part of the configuration's identity.
CONFIGS = (
    ("ort", "cpu", "host"),
    ("ort", "cuda", "iobinding"),
    ("ort", "cuda", "cuda-graph"),
    ("ort", "tensorrt", "iobinding"),
    ("torch-eager", "cpu", "host"),
    ("torch-eager", "cuda", "device"),
)


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | skipped | unavailable | failed
    samples_ms: tuple[float, ...] = ()
    message: str | None = None
    providers: tuple[str, ...] = ()
    node_assignment: tuple[tuple[str, int], ...] = ()
    session_create_ms: float | None = None
    gpu_memory_bytes: int | None = None


# ------------------------------------------------------------------------------------------ models


def build_models(hidden: int) -> dict[str, Any]:
    """The study's three families at one width: 2-layer LSTM and GRU with a linear head on the last
    step, and a 4-level causal dilated TCN with global average pooling."""
    import torch
    from torch import nn

    class Recurrent(nn.Module):
        def __init__(self, cell: type[nn.Module]) -> None:
            super().__init__()
            self.rnn = cell(FEATURES, hidden, num_layers=2, batch_first=True)
            self.head = nn.Linear(hidden, OUTPUTS)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    class TCN(nn.Module):
        def __init__(self, levels: int = 4, kernel: int = 3) -> None:
            super().__init__()
            self.pads = [(kernel - 1) * 2**i for i in range(levels)]
            self.convs = nn.ModuleList(
                nn.Conv1d(FEATURES if i == 0 else hidden, hidden, kernel, dilation=2**i) for i in range(levels)
            )
            self.head = nn.Linear(hidden, OUTPUTS)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.transpose(1, 2)
            for pad, conv in zip(self.pads, self.convs):
                z = torch.relu(conv(nn.functional.pad(h, (pad, 0))))
                h = z + h if z.shape[1] == h.shape[1] else z
            return self.head(h.mean(dim=2))

    torch.manual_seed(0)
    return {
        "lstm2": (Recurrent(nn.LSTM).eval(), "rnn"),
        "gru2": (Recurrent(nn.GRU).eval(), "rnn"),
        "tcn4": (TCN().eval(), "cnn"),
    }


def export(module: Any, path: Path) -> Path:
    """TorchScript-based export: fused LSTM/GRU ops with batch and time dynamic (docs/exporter.md)."""
    import torch

    example = torch.zeros(2, 7, FEATURES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path), input_names=["x"], output_names=["y"], opset_version=17,
            dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch"}}, dynamo=False,
        )
    return path


# ------------------------------------------------------------------------------------------ timing


def sample(call: Callable[[], object], *, warmup: int, runs: int, max_s: float) -> tuple[float, ...]:
    """Per-call latencies in ms. ``call`` must return only when the device work is finished."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + max_s
    while len(samples) < runs and (len(samples) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    return tuple(samples)


def nvml_used_bytes() -> int | None:
    """Device memory in use on GPU 0 through NVML (nvidia-ml-py), None without it."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML, no driver: memory is simply not measured
        return None


def run_ort(model: Path, ep: str, mode: str, x: np.ndarray, budget: dict[str, Any]) -> Outcome:
    import onnxruntime as ort

    from ortkit.runtime import ProviderUnavailable, Runtime

    options: dict[str, dict[str, str]] = {}
    if mode == "cuda-graph":
        options = {"cuda": {"enable_cuda_graph": "1"}}
    wanted = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[ep]
    if wanted not in ort.get_available_providers():
        return Outcome("unavailable", message=f"{wanted} is not in this onnxruntime build (onnxruntime {ort.__version__}; "
                       f"it offers {', '.join(ort.get_available_providers())})")
    started = time.perf_counter()
    try:
        # strict=False: nodes that fall back to the CPU do not raise; they are recorded and shown.
        # An EP that fails to load is caught below, by the providers the session really has.
        rt = Runtime(str(model), providers=[ep, "cpu"] if ep != "cpu" else "cpu", ep_options=options or None, strict=False)
    except ProviderUnavailable as error:
        return Outcome("unavailable" if ep != "cpu" else "failed", message=str(error))
    create_ms = (time.perf_counter() - started) * 1e3
    providers = tuple(rt.providers)
    assignment = tuple(sorted((str(k), int(v)) for k, v in dict(rt.node_assignment).items()))
    if wanted not in providers or dict(assignment).get(wanted, 0) == 0:
        return Outcome("unavailable", message=f"{wanted} did not run the model: session has {', '.join(providers)}, nodes {dict(assignment)}",
                       providers=providers, node_assignment=assignment)
    session = rt.session
    if ep == "cpu":
        feeds = {"x": x}
        samples = sample(lambda: session.run(None, feeds), **budget)
        return Outcome("ok", samples, providers=providers, node_assignment=assignment, session_create_ms=create_ms)
    # Device EPs: inputs and outputs stay on the GPU (I/O binding); the clock stops after the
    # outputs are synchronised, so the time covers the device work, not just its launch.
    x_dev = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input("x", x_dev)
    if mode == "cuda-graph":
        # CUDA graphs replay fixed addresses: the output buffer must be pre-allocated and bound.
        y_dev = ort.OrtValue.ortvalue_from_shape_and_type((x.shape[0], OUTPUTS), np.float32, "cuda", 0)
        binding.bind_ortvalue_output("y", y_dev)
    else:
        binding.bind_output("y", "cuda", 0)

    def call() -> None:
        binding.synchronize_inputs()
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()

    try:
        samples = sample(call, **budget)
    except Exception as error:  # noqa: BLE001 - e.g. CUDA graphs refused for this graph: recorded as failed
        return Outcome("failed", message=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                       providers=providers, node_assignment=assignment, session_create_ms=create_ms)
    return Outcome("ok", samples, providers=providers, node_assignment=assignment, session_create_ms=create_ms,
                   gpu_memory_bytes=nvml_used_bytes())


def run_torch(module: Any, device: str, x: np.ndarray, budget: dict[str, Any]) -> Outcome:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return Outcome("unavailable", message=f"torch {torch.__version__} sees no CUDA device")
    model = module.to(device)
    xt = torch.from_numpy(x).to(device)

    def call() -> None:
        with torch.inference_mode():
            model(xt)
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    samples = sample(call, **budget)
    memory = int(torch.cuda.max_memory_allocated()) if device == "cuda" else None
    module.to("cpu")
    return Outcome("ok", samples, providers=(f"torch:{device}",), gpu_memory_bytes=memory)


# ------------------------------------------------------------------------------------------ study


def card_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    from ortkit.profiler._environment import cpu_model

    return f"no GPU ({cpu_model()})"


def check_parity(module: Any, model: Path, x: np.ndarray) -> float:
    """Largest absolute difference between PyTorch and ORT CPU on ``x``: the export must be right
    before its speed means anything."""
    import onnxruntime as ort
    import torch

    with torch.inference_mode():
        expected = module(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return float(np.abs(expected - got).max())


def run_study(out: Path, *, dry_run: bool, shapes: tuple[tuple[int, int], ...], hidden: int, budget: dict[str, Any],
              models: tuple[str, ...] = ("lstm2", "gru2", "tcn4"), cpu_rows: bool = True,
              log: Callable[[str], None] = print) -> Path:
    """Export, measure every configuration, store results and write the report. Returns the
    report's path."""
    import onnxruntime as ort

    from ortkit.profiler._environment import collect_environment
    from ortkit.profiler._spec import Budget, ProfileSpec, file_sha256
    from ortkit.profiler._store import Metrics, Result, ResultStore

    if not dry_run and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # the CUDA/cuDNN libraries that torch's wheels carry
    out.mkdir(parents=True, exist_ok=True)
    environment = collect_environment()
    card = card_name()
    built = {name: spec for name, spec in build_models(hidden).items() if name in models}
    store = ResultStore(out / "results.db")
    rows: list[dict[str, Any]] = []
    stored_budget = Budget(warmup_runs=budget["warmup"], min_runs=min(3, budget["runs"]), max_runs=budget["runs"], max_time_s=budget["max_s"])
    for name, (module, family) in built.items():
        path = export(module, out / f"{name}.onnx")
        error = check_parity(module, path, np.random.default_rng(1).standard_normal((2, 33, FEATURES)).astype(np.float32))
        log(f"{name}: exported, max |torch - ort| = {error:.2e}")
        if not error < 1e-3:  # a wrong export is never timed
            raise SystemExit(f"{name}: the ONNX export differs from PyTorch by {error:.3g}; not measuring it")
        sha = file_sha256(path)
        for batch, steps in shapes:
            x = np.random.default_rng(batch * 7919 + steps).standard_normal((batch, steps, FEATURES)).astype(np.float32)
            for runner, ep, mode in CONFIGS:
                if ep == "cpu" and not cpu_rows:
                    continue
                if mode == "cuda-graph" and family != "cnn":
                    continue  # ORT's CUDA graphs need a graph without CPU-placed shape ops; the RNN exports have them
                if runner == "ort":
                    outcome = run_ort(path, ep, mode, x, budget)
                else:
                    outcome = run_torch(module, ep, x, budget)
                if dry_run and ep in ("cuda", "tensorrt") and outcome.status != "ok":
                    outcome = Outcome(outcome.status, message=f"dry run on a CPU machine: {outcome.message}")
                spec = ProfileSpec(
                    model=str(path), model_sha256=sha, model_label=name, ep=ep, batch=batch, time=steps,
                    runner=runner, tags=(("mode", mode), ("study", "gpu")),
                )
                metrics = Metrics(
                    session_create_ms=outcome.session_create_ms, active_providers=outcome.providers,
                    node_assignment=outcome.node_assignment, gpu_memory_bytes=outcome.gpu_memory_bytes,
                    throughput_timesteps_s=(batch * steps / (float(np.median(outcome.samples_ms)) / 1e3)) if outcome.samples_ms else None,
                )
                store.add(Result(spec=spec, environment=environment, status=outcome.status, samples_ms=outcome.samples_ms,
                                 message=outcome.message, metrics=metrics, budget=stored_budget))
                median = float(np.median(outcome.samples_ms)) if outcome.samples_ms else None
                rows.append({"model": name, "family": family, "batch": batch, "time": steps, "runner": runner, "ep": ep,
                             "mode": mode, "status": outcome.status, "median_ms": median, "message": outcome.message,
                             "nodes": dict(outcome.node_assignment)})
                log(f"  {name} b={batch} t={steps} {runner}/{ep}/{mode}: "
                    + (f"{median:.3f} ms" if median is not None else f"{outcome.status}: {outcome.message}"))
    store.close()
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    report = out / "report.md"
    report.write_text(render_report(rows, card=card, hidden=hidden, dry_run=dry_run, environment=environment.to_dict()))
    return report


def render_report(rows: list[dict[str, Any]], *, card: str, hidden: int, dry_run: bool, environment: dict[str, Any]) -> str:
    """The study's Markdown report: one table per model with every configuration, ORT/torch ratios
    on the same device, node assignment, and every unavailable EP with its reason."""
    lines = [
        f"# GPU study subset on {card}" + (" (DRY RUN: no GPU, CUDA rows unavailable)" if dry_run else ""),
        "",
        f"Card: **{card}**. onnxruntime: {environment.get('onnxruntime_distribution')} {environment.get('onnxruntime')}; "
        f"torch {environment.get('torch')}; CPU {environment.get('cpu_model')} ({environment.get('cpu_cores_logical')} logical cores). "
        f"Models: 2-layer LSTM/GRU hidden {hidden}, TCN 4 levels x {hidden} channels, fp32, {FEATURES} input features. "
        "Times are medians in ms per call (device work synchronised before the clock stops).",
        "",
    ]
    for model in dict.fromkeys(row["model"] for row in rows):
        lines += [f"## {model}", "", f"| batch | time | runner | EP | mode | median ms ({card}) | ORT / torch same device | nodes |", "|---|---|---|---|---|---|---|---|"]
        mine = [row for row in rows if row["model"] == model]
        for row in mine:
            torch_row = next((r for r in mine if r["runner"] == "torch-eager" and r["batch"] == row["batch"] and r["time"] == row["time"]
                              and r["ep"] == ("cpu" if row["ep"] == "cpu" else "cuda") and r["median_ms"]), None)
            ratio = (f"{row['median_ms'] / torch_row['median_ms']:.2f}" if row["runner"] == "ort" and row["median_ms"] and torch_row else "")
            value = f"{row['median_ms']:.3f}" if row["median_ms"] is not None else f"{row['status']}"
            nodes = ", ".join(f"{ep.replace('ExecutionProvider', '')} {n}" for ep, n in row["nodes"].items())
            lines.append(f"| {row['batch']} | {row['time']} | {row['runner']} | {row['ep']} | {row['mode']} | {value} | {ratio} | {nodes} |")
        lines.append("")
    missing = [row for row in rows if row["status"] != "ok"]
    if missing:
        lines += ["## Not measured", "", "| model | batch | time | runner | EP | mode | status | reason |", "|---|---|---|---|---|---|---|---|"]
        for row in missing:
            reason = (row["message"] or "").replace("|", "/").replace("\n", " ")
            lines.append(f"| {row['model']} | {row['batch']} | {row['time']} | {row['runner']} | {row['ep']} | {row['mode']} | {row['status']} | {reason} |")
        lines.append("")
    fallback = [row for row in rows if row["runner"] == "ort" and row["ep"] != "cpu" and row.get("nodes", {}).get("CPUExecutionProvider")]
    if fallback:
        lines += ["## CPU fallback", "", "Configurations whose session placed nodes on the CPU EP beside the requested one:", ""]
        lines += [f"- {r['model']} b={r['batch']} t={r['time']} {r['ep']}/{r['mode']}: {r['nodes']}" for r in fallback]
        lines.append("")
    return "\n".join(lines)


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    try:
        shapes = tuple((int(b), int(t)) for b, t in (item.lower().split("x") for item in text.split(",") if item))
    except ValueError:
        raise SystemExit(f"--shapes: expected BxT[,BxT...] such as 1x100,64x1000, got {text!r}") from None
    if not shapes or any(b < 1 or t < 1 for b, t in shapes):
        raise SystemExit(f"--shapes: batch and time must be >= 1, got {text!r}")
    return shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("study-gpu"))
    parser.add_argument("--dry-run", action="store_true", help="no GPU: record CUDA/TensorRT rows as unavailable, measure the CPU rows")
    parser.add_argument("--shapes", default=None, help="BxT list (default 1x100,1x1000,64x100,64x1000; dry run 1x20,4x50)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden size / channels (default 128; dry run 32)")
    parser.add_argument("--models", default="lstm2,gru2,tcn4")
    parser.add_argument("--runs", type=int, default=None, help="timed calls per configuration (default 50; dry run 5)")
    parser.add_argument("--cpu-rows", action="store_true", help="also measure ORT CPU and torch CPU (always on in a dry run)")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="time cap per configuration")
    args = parser.parse_args(argv)
    dry = args.dry_run
    shapes = parse_shapes(args.shapes) if args.shapes else (((1, 20), (4, 50)) if dry else DEFAULT_SHAPES)
    hidden = args.hidden or (32 if dry else 128)
    runs = args.runs or (5 if dry else 50)
    budget = {"warmup": 2 if dry else 10, "runs": runs, "max_s": args.max_seconds}
    models = tuple(m for m in args.models.split(",") if m)
    report = run_study(args.out, dry_run=dry, shapes=shapes, hidden=hidden, budget=budget, models=models,
                       cpu_rows=dry or args.cpu_rows)
    print(report.read_text())
    print(f"results: {args.out / 'results.db'}  report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
