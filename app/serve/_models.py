"""What the server serves: one `Runtime` per model file, named by its export label, and what the
protocol's metadata and the batcher need to know about its signature."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ortkit.base import file_sha256
from ortkit.runtime import NotStreamable, Runtime, TensorInfo, TunedProfile, load_tuned_profile

from ortkit.serve._codec import v2_datatype
from ortkit.serve._errors import ServeError

__all__ = ["ServeOptions", "ServedModel", "load_models", "model_label", "oversubscription"]

# The exporter's file names: DIR/model.onnx is DIR, DIR/model.<variant>.onnx is DIR-<variant>.
_EXPORT_STEM = "model"


@dataclass(frozen=True)
class ServeOptions:
    """How the server runs its models.

    Args:
        max_batch: most rows (along the batch axis) one batched run may hold; 1 turns batching off.
        max_delay_ms: how long the first queued request waits for others to join its batch; 0
            batches only what queued up while the model was busy.
        instances: runs of one model that may execute at once (threads, like Triton's
            ``instance_group`` count).
        threads: onnxruntime intra-op threads per session (None: onnxruntime's default, the cores).
        providers: the EP spec every model is loaded with (see `Runtime`).
        max_streams: most streaming sessions open at once, over all models.
        stream_idle_s: a streaming session with no chunk for this long is closed.
        tuned: tuned profile files (``ortkit tune``); each applies to the served model whose file
            it was tuned for (matched by sha256), which then runs the profile's choice for batch
            ``max_batch`` (EP, its options, session settings, precision variant) instead of
            ``providers`` and ``threads``. Models without one run untuned.
    """

    max_batch: int = 32
    max_delay_ms: float = 0.0
    instances: int = 1
    threads: int | None = None
    providers: str = "cpu"
    max_streams: int = 64
    stream_idle_s: float = 60.0
    tuned: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.tuned, (str, os.PathLike)) or not all(isinstance(t, (str, os.PathLike)) for t in self.tuned):
            raise ServeError(f"tuned must be a tuple of profile paths, got {self.tuned!r}")
        if self.tuned and self.threads is not None:
            raise ServeError("a tuned profile sets the threads of its model; do not pass threads with tuned")
        for name in ("max_batch", "instances", "max_streams"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ServeError(f"{name} must be a positive integer, got {value!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ServeError(f"threads must be a positive integer or None, got {self.threads!r}")
        if not self.max_delay_ms >= 0:
            raise ServeError(f"max_delay_ms must be >= 0, got {self.max_delay_ms!r}")
        if not self.stream_idle_s > 0:
            raise ServeError(f"stream_idle_s must be > 0, got {self.stream_idle_s!r}")


@dataclass(frozen=True)
class ServedModel:
    """One served model: its name, file, session, and the batch axis of every input and output
    (None when the tensor has no ``batch`` dim, which turns batching off for the model)."""

    name: str
    path: str
    runtime: Runtime
    streaming: bool
    batch_axes: tuple[tuple[str, int | None], ...]

    @property
    def batchable(self) -> bool:
        return all(axis is not None for _, axis in self.batch_axes)

    def metadata(self) -> dict[str, Any]:
        """The protocol's model metadata: symbolic dims are -1."""
        return {
            "name": self.name,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [_tensor_metadata(t) for t in self.runtime.inputs],
            "outputs": [_tensor_metadata(t) for t in self.runtime.outputs],
        }


def _tensor_metadata(info: TensorInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "datatype": v2_datatype(info.dtype),
        "shape": [d if isinstance(d, int) else -1 for d in info.dims],
    }


def model_label(path: str | os.PathLike[str]) -> str:
    """The name a model file is served under: the export's folder for ``DIR/model.onnx``,
    ``DIR-streaming`` for ``DIR/model.streaming.onnx``, otherwise the file's stem."""
    p = Path(path)
    stem = p.name[: -len(".onnx")] if p.name.endswith(".onnx") else p.stem
    folder = p.resolve().parent.name
    if stem == _EXPORT_STEM and folder:
        return folder
    if stem.startswith(_EXPORT_STEM + ".") and folder:
        return f"{folder}-{stem[len(_EXPORT_STEM) + 1:]}"
    return stem


def load_models(specs: Iterable[str | os.PathLike[str]], options: ServeOptions) -> tuple[ServedModel, ...]:
    """Load each model (``PATH`` or ``NAME=PATH``) into a `Runtime`.

    Raises:
        ServeError: no models, or two with one name.
        ModelRejected, ProviderUnavailable: from `Runtime`.
    """
    models: list[ServedModel] = []
    profiles = _tuned_profiles(options.tuned)
    served: list[str] = []
    for spec in specs:
        text = os.fspath(spec)
        name, _, path = text.partition("=") if "=" in text and not Path(text).exists() else ("", "", text)
        name = name or model_label(path)
        if any(m.name == name for m in models):
            raise ServeError(f"two models are named {name!r}; name one of them with NAME=PATH")
        sha = file_sha256(path) if profiles and Path(path).is_file() else ""
        served.append(sha[:12])
        tuned = profiles.pop(sha, None)
        if tuned is not None:
            runtime = Runtime(path, tuned=tuned, tuned_shape=(options.max_batch, None))
        else:
            runtime = Runtime(path, options.providers, threads=options.threads)
        models.append(ServedModel(name, path, runtime, _is_streaming(runtime), _batch_axes(runtime)))
    if not models:
        raise ServeError("no model to serve; pass at least one MODEL.onnx")
    if profiles:
        sha, path = next(iter(profiles.items()))
        raise ServeError(f"tuned profile {path} is for model {sha[:12]}, which is not served (served: "
                         f"{', '.join(served)}): pass that model or drop the profile")
    return tuple(models)


def _tuned_profiles(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """model sha256 -> profile path; every profile is read (and refused) before any model loads."""
    found: dict[str, str] = {}
    for path in paths:
        profile: TunedProfile = load_tuned_profile(path)
        if profile.model_sha256 in found:
            raise ServeError(f"tuned profiles {found[profile.model_sha256]} and {path} are for the same model; pass one")
        found[profile.model_sha256] = os.fspath(path)
    return found


def _is_streaming(runtime: Runtime) -> bool:
    try:
        runtime.stream()
    except NotStreamable:
        return False
    return True


def _batch_axes(runtime: Runtime) -> tuple[tuple[str, int | None], ...]:
    return tuple(
        (t.name, t.dims.index("batch") if "batch" in t.dims else None)
        for t in (*runtime.inputs, *runtime.outputs)
    )


def oversubscription(sessions: int, threads: int | None, cores: int | None = None, replicas: int = 1) -> str | None:
    """A warning when ``replicas`` x ``sessions`` running at once x intra-op ``threads`` exceed the
    cores, or None. ``threads=None`` counts as all cores (onnxruntime's default)."""
    cores = cores or os.cpu_count() or 1
    per_session = threads or cores
    demand = replicas * sessions * per_session
    if demand <= cores:
        return None
    return (
        f"{replicas} replica(s) x {sessions} concurrent session run(s) x {per_session} intra-op thread(s) = "
        f"{demand} threads on {cores} cores: runs will contend for cores and latency will vary; "
        f"lower --threads or --instances (see docs/serving.md, 'Sizing')"
    )
