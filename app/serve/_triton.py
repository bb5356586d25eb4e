"""A model repository for NVIDIA Triton Inference Server's onnxruntime backend, written from what
`Runtime` reads off an export: ``REPO/NAME/config.pbtxt`` and ``REPO/NAME/1/model.onnx``.

The config is protobuf text of Triton's ``ModelConfig`` message, written out here so that writing
it needs no Triton package (the tests parse it with the one ``tritonclient`` ships).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ortkit.base import file_sha256
from ortkit.runtime import Runtime, SessionSettings, TensorInfo, TunedChoice, load_tuned_profile

from ortkit.serve._codec import v2_datatype
from ortkit.serve._errors import ServeError
from ortkit.serve._models import model_label

__all__ = ["TritonOptions", "TritonRepository", "write_triton_repository"]


@dataclass(frozen=True)
class TritonOptions:
    """The deployment choices in ``config.pbtxt``.

    Args:
        max_batch: Triton's ``max_batch_size`` (0 disables batching; used when the batch axis is
            not the first axis of every tensor, which Triton requires).
        max_delay_us: ``max_queue_delay_microseconds`` of the dynamic (or sequence) batcher.
        instances: ``instance_group`` count, each a session with its own threads.
        threads: the backend's ``intra_op_thread_count`` (per instance).
        kind: ``KIND_CPU`` or ``KIND_GPU``.
        sequence_idle_us: a streaming sequence with no request for this long is released.
        tuned: a tuned profile file (``ortkit tune``) for the model: its choice for batch
            ``max_batch`` sets the session parameters (threads, execution mode, optimization
            level, arena, memory pattern), the EP (CPU, OpenVINO or CUDA) and the file copied
            (the precision variant that won); ``threads`` must then stay at its default.
    """

    max_batch: int = 32
    max_delay_us: int = 100
    instances: int = 1
    threads: int = 1
    kind: str = "KIND_CPU"
    sequence_idle_us: int = 60_000_000
    tuned: str | None = None

    def __post_init__(self) -> None:
        if self.tuned is not None and self.threads != 1:
            raise ServeError("a tuned profile sets the threads; do not pass threads with tuned")
        for name in ("max_batch", "max_delay_us", "sequence_idle_us"):
            if getattr(self, name) < 0:
                raise ServeError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.instances < 1 or self.threads < 1:
            raise ServeError("instances and threads must be >= 1")
        if self.kind not in ("KIND_CPU", "KIND_GPU"):
            raise ServeError(f"kind must be KIND_CPU or KIND_GPU, got {self.kind!r}")


@dataclass(frozen=True)
class TritonRepository:
    """What was written: the model's folder, its config and model file, and whether the model
    is served as a sequence (streaming export, implicit state)."""

    name: str
    folder: Path
    config: Path
    model: Path
    streaming: bool
    max_batch: int
    #: the tuned profile's choice written into the config (None: untuned), and what of it a
    #: Triton config cannot say (each one line, for the caller to warn about)
    tuned: TunedChoice | None = None
    not_carried: tuple[str, ...] = ()


def write_triton_repository(model: str | os.PathLike[str], repository: str | os.PathLike[str], *,
                            name: str | None = None, options: TritonOptions | None = None) -> TritonRepository:
    """Write ``REPOSITORY/NAME/config.pbtxt`` and ``REPOSITORY/NAME/1/model.onnx``.

    Raises:
        ServeError: the model folder exists and is not one this function wrote.
        ModelRejected: from `Runtime`, for a file that cannot be loaded.
    """
    options = options or TritonOptions()
    choice, source = _tuned_choice(model, options)
    runtime = Runtime(source, "cpu")
    name = name or model_label(model)
    streaming, states = _states(runtime)
    state_inputs = {s.input for s in states}
    state_outputs = {s.output for s in states}
    inputs = [t for t in runtime.inputs if t.name not in state_inputs]
    outputs = [t for t in runtime.outputs if t.name not in state_outputs]
    every = [*runtime.inputs, *runtime.outputs]
    # Triton batches along the first axis only, and needs it on every tensor, states included.
    batch_first = all(t.dims[:1] == ("batch",) for t in every)
    max_batch = options.max_batch if batch_first else 0
    skip = 1 if max_batch else 0

    lines = [f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {max_batch}"]
    lines += _tensors("input", inputs, skip)
    lines += _tensors("output", outputs, skip)
    lines += ["instance_group [", f"  {{ count: {options.instances} kind: {options.kind} }}", "]"]
    if streaming:
        lines += _sequence_batching(states, skip, options, max_batch)
    elif max_batch:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {options.max_delay_us}", "}"]
    not_carried: tuple[str, ...] = ()
    if choice is None:
        lines += _parameter("intra_op_thread_count", options.threads) + _parameter("inter_op_thread_count", 1)
    else:
        tuned_lines, not_carried = _tuned_lines(choice)
        lines += tuned_lines
        if choice.ep.split(":", 1)[0] in ("cuda", "gpu"):
            lines = [line.replace("kind: KIND_CPU", "kind: KIND_GPU") for line in lines]

    folder = Path(repository) / name
    if folder.exists() and not (folder / "config.pbtxt").is_file():
        raise ServeError(f"{folder} exists and holds no config.pbtxt; choose another repository or --name")
    (folder / "1").mkdir(parents=True, exist_ok=True)
    config = folder / "config.pbtxt"
    config.write_text("\n".join(lines) + "\n")
    target = folder / "1" / "model.onnx"
    shutil.copyfile(source, target)
    return TritonRepository(name, folder, config, target, streaming, max_batch, choice, not_carried)


def _tuned_choice(model: str | os.PathLike[str], options: TritonOptions) -> tuple[TunedChoice | None, str | os.PathLike[str]]:
    """The profile's choice for ``max_batch`` (checked against the model and this machine) and
    the file to copy: the precision variant that won, else the model."""
    if options.tuned is None:
        return None, model
    profile = load_tuned_profile(options.tuned)
    if not Path(model).is_file():
        raise ServeError(f"model file {model} does not exist")
    profile.check(file_sha256(model))
    choice = profile.choice_for(max(options.max_batch, 1))
    variant = profile.model_path(choice, options.tuned)
    return choice, variant if variant is not None else model


# The onnxruntime backend's graph optimization ``level``: -1 basic, 1 basic plus extended, 2 none;
# absent: all optimizations (its default, as ortkit's).
_TRITON_LEVELS = {"basic": -1, "extended": 1, "disabled": 2, "none": 2}


def _tuned_lines(choice: TunedChoice) -> tuple[list[str], tuple[str, ...]]:
    """The config lines for a tuned choice, and what the backend has no parameter for."""
    settings: SessionSettings = choice.settings
    ep = choice.ep.split(":", 1)[0]
    lines: list[str] = []
    optimization = []
    if settings.optimization in _TRITON_LEVELS:
        optimization.append(f"  graph {{ level: {_TRITON_LEVELS[settings.optimization]} }}")
    if ep in ("openvino", "cuda", "gpu"):
        where, name = ("cpu_execution_accelerator", "openvino") if ep == "openvino" else ("gpu_execution_accelerator", "cuda")
        params = "".join(f' parameters {{ key: "{k}" value: "{v}" }}' for k, v in choice.ep_options)
        optimization.append(f'  execution_accelerators {{ {where}: [ {{ name: "{name}"{params} }} ] }}')
    elif ep != "cpu":
        raise ServeError(f"the tuned profile chose EP {choice.ep}, which ortkit cannot write into a Triton config (cpu, openvino, cuda)")
    if optimization:
        lines += ["optimization {", *optimization, "}"]
    lines += _parameter("intra_op_thread_count", settings.threads or 0)
    lines += _parameter("inter_op_thread_count", settings.inter_op_threads or 1)
    lines += _parameter("execution_mode", 1 if settings.execution_mode == "parallel" else 0)
    lines += _parameter("enable_mem_arena", int(settings.cpu_arena)) + _parameter("enable_mem_pattern", int(settings.memory_pattern))
    not_carried = ()
    if not settings.spinning:
        not_carried = ("the onnxruntime backend has no parameter for thread spinning: Triton's sessions spin (the profile measured without)",)
    return lines, not_carried


def _states(runtime: Runtime) -> tuple[bool, tuple[object, ...]]:
    from ortkit.runtime import NotStreamable

    try:
        return True, tuple(runtime.stream().states)
    except NotStreamable:
        return False, ()


def _dims(dims: tuple[int | str | None, ...], skip: int) -> str:
    return "[ " + ", ".join(str(d) if isinstance(d, int) else "-1" for d in dims[skip:]) + " ]"


def _type(dtype: str) -> str:
    return "TYPE_" + {"BYTES": "STRING"}.get(v2_datatype(dtype), v2_datatype(dtype))


def _tensors(field: str, tensors: list[TensorInfo], skip: int) -> list[str]:
    body = [f'  {{ name: "{t.name}" data_type: {_type(t.dtype)} dims: {_dims(t.dims, skip)} }}' for t in tensors]
    return [f"{field} ["] + _commas(body) + ["]"]


def _sequence_batching(states: tuple[object, ...], skip: int, options: TritonOptions, max_batch: int) -> list[str]:
    lines = ["sequence_batching {", f"  max_sequence_idle_microseconds: {options.sequence_idle_us}"]
    if max_batch:
        # "oldest" batches the requests of several live sequences into one run.
        lines += ["  oldest {", f"    max_candidate_sequences: {max_batch}",
                  f"    max_queue_delay_microseconds: {options.max_delay_us}", "  }"]
    else:
        lines += ["  direct { }"]
    body = []
    for s in states:
        dims = _dims(tuple(s.dims), skip)  # type: ignore[attr-defined]
        kind = _type(s.dtype)  # type: ignore[attr-defined]
        body.append(
            f'    {{ input_name: "{s.input}" output_name: "{s.output}" data_type: {kind} dims: {dims}\n'  # type: ignore[attr-defined]
            f'      initial_state: {{ name: "{s.name}_zeros" data_type: {kind} dims: {dims} zero_data: true }} }}'
        )
    return lines + ["  state ["] + _commas(body) + ["  ]", "}"]


def _parameter(key: str, value: int) -> list[str]:
    return [f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}']


def _commas(items: list[str]) -> list[str]:
    return [item + ("," if i < len(items) - 1 else "") for i, item in enumerate(items)]
