"""The grid of a sweep as specs, checked against every model before anything is measured."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ortkit.base import UsageError
from ortkit.profiler._limits import check_feed_bytes, check_threads, worker_memory_limit
from ortkit.profiler._shapes import concrete_shapes, has_time_axis, model_signature
from ortkit.profiler._spec import ProfileSpec

if TYPE_CHECKING:
    from ortkit.profiler._sweep import ModelSource

__all__ = ["plan", "torch_version", "BASELINES", "Origin", "model_origin"]

BASELINES = {"torch": "torch-eager", "torch-eager": "torch-eager", "torch-compile": "torch-compile"}


def plan(
    sources: Sequence[ModelSource],
    eps: Sequence[str],
    batches: Sequence[int],
    times: Sequence[int | None],
    threads: Sequence[int | None],
    concurrency: Sequence[int] = (1,),
    chunks: Sequence[int | None] = (None,),
    baseline: Sequence[str] = (),
    op_profile: bool = False,
    tags: Sequence[tuple[str, str]] = (),
    ep_options: Mapping[str, Mapping[str, Any]] | None = None,
    ep_library: Mapping[str, str] | None = None,
    baseline_source: str | None = None,
    max_threads: int | None = None,
) -> tuple[list[ProfileSpec], list[str]]:
    """The grid as specs, after checking every shape against every model (before measuring).

    The PyTorch baseline of a model is its own source: the zoo model an ortkit export of a zoo
    model or checkpoint records, the factory an export of a user model records, or
    ``baseline_source`` (``file.py:factory``, one model only). A user model is never measured
    as a zoo model of the same name; without a source its baseline is unavailable, with the reason.

    Returns:
        The specs in run order and notes (e.g. a time list ignored for a model without time axis).

    Raises:
        ShapeError: a model cannot take a requested shape.
        UsageError: more threads than `thread_limit`, or inputs larger than the runtime's
            `MAX_RANDOM_BYTES` (before anything is allocated).
    """
    check_threads(threads, max_threads)
    worker_memory_limit("cpu")  # a bad ORTKIT_WORKER_MEMORY fails here, before any measuring
    from ortkit.profiler._shapes import streaming_states
    from ortkit.runtime import provider_name

    import onnx

    specs: list[ProfileSpec] = []
    notes: list[str] = []
    runners = []
    for name in baseline:
        if name not in BASELINES:
            raise UsageError(f"unknown baseline {name!r}; use torch (eager) or torch-compile")
        runners.append(BASELINES[name])
    options = {ep: tuple(sorted((str(k), str(v)) for k, v in dict(opts).items())) for ep, opts in (ep_options or {}).items()}
    libraries = tuple(sorted((str(k), os.path.abspath(v)) for k, v in (ep_library or {}).items()))
    devices = sorted({"cuda" if (provider_name(ep) or "") in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu" for ep in eps})
    if baseline_source is not None and len(sources) != 1:
        raise UsageError(f"--baseline-source names the PyTorch source of one model; {len(sources)} models were given")
    for source in sources:
        origin = model_origin(source, baseline_source)
        sigs, _ = model_signature(source.path)
        has_time = has_time_axis(sigs)
        model_times: Sequence[int | None] = times if has_time else (None,)
        if has_time and any(t is None for t in times):
            raise UsageError(f"{source.label} has a time axis: give time lengths (--time 16,128)")
        if not has_time and any(t is not None for t in times):
            notes.append(f"{source.label} has no time axis: --time ignored for it")
        streaming = bool(streaming_states(onnx.load(source.path, load_external_data=False)))
        model_chunks = chunks if streaming else (None,)
        if not streaming and any(c is not None for c in chunks):
            notes.append(f"{source.label} is not a streaming export: --chunk ignored for it")
        for batch in batches:
            for time in model_times:
                for chunk in model_chunks:
                    shapes = concrete_shapes(source.path, sigs, batch, chunk or time)
                    check_feed_bytes(source.label, shapes, {sig.name: sig.dtype for sig in sigs})
        common = dict(
            model=source.path, model_sha256=source.sha256, model_label=source.label, precision=source.precision,
            zoo_name=origin.zoo_name, zoo_overrides=source.zoo_overrides if origin.zoo_name else (), tags=tuple(tags),
            family=origin.family,
        )
        for ep in eps:
            for thread in threads:
                for batch in batches:
                    for time in model_times:
                        for chunk in model_chunks:
                            for clients in concurrency:
                                specs.append(ProfileSpec(
                                    ep=ep, ep_options=options.get(ep, ()), ep_library=libraries, batch=batch, time=time, threads=thread, chunk=chunk, concurrency=clients,
                                    op_profile=op_profile, **common,  # type: ignore[arg-type]
                                ))
        if runners:
            # The torch version is part of a baseline's identity: an 'unavailable' recorded where
            # torch was absent, or numbers of torch 2.13, are not reused once torch changes.
            baseline_common = dict(common, tags=(*common["tags"], ("torch", torch_version())), baseline_source=origin.factory)  # type: ignore[misc]
        for runner in runners:
            for device in devices:
                for thread in threads:
                    for batch in batches:
                        for time in model_times:
                            specs.append(ProfileSpec(ep=device, batch=batch, time=time, threads=thread, runner=runner, **baseline_common))  # type: ignore[arg-type]
    return specs, notes


@dataclass(frozen=True)
class Origin:
    """Where a model file came from, as far as its PyTorch baseline and the report care."""

    zoo_name: str | None
    factory: str | None
    family: str | None


def model_origin(source: ModelSource, baseline_source: str | None = None) -> Origin:
    """The zoo name (only for exports of zoo models), the user factory and the family of a file,
    from its ``ortkit.*`` metadata; ``baseline_source`` overrides the recorded factory."""
    from ortkit.base import absolute_source
    from ortkit.runtime import read_metadata

    try:
        meta = read_metadata(source.path)
    except Exception:  # noqa: BLE001 - the shape checks report an unreadable file themselves
        return Origin(source.zoo_name, absolute_source(baseline_source) if baseline_source else None, None)
    recorded = meta.export.get("source") if isinstance(meta.export.get("source"), dict) else {}
    kind = recorded.get("origin")
    # A user factory's export records its own name as ortkit.model ("gru"); that is no zoo model.
    zoo_name = source.zoo_name if kind in (None, "zoo", "checkpoint") and not baseline_source else None
    factory = absolute_source(baseline_source) if baseline_source else recorded.get("factory") if kind == "factory" else None
    return Origin(zoo_name, factory if isinstance(factory, str) else None, meta.family)


def torch_version() -> str:
    """The torch version the baseline workers (this interpreter) would import, or ``"absent"``;
    read from package metadata, so torch is not imported."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "absent"
