"""Resolve what the user asked to export into a PyTorch module plus the spec that describes it.

A source is one of:

- a zoo name (``lstm``), built with random weights (a warning says so) or, with ``checkpoint``,
  loaded from a state dict;
- an ortkit training checkpoint: a folder holding ``model.safetensors`` and ``manifest.json``
  (or the path of either file in it);
- a user factory, ``path/to/file.py:factory`` or ``package.module:factory``, called with no
  arguments, with optional ``checkpoint`` (safetensors, or a torch state dict) and the input
  signature given as ``NAME:DTYPE:DIM,DIM,...`` strings.

Checkpoints never execute code: safetensors cannot, and torch files are read with
``torch.load(..., weights_only=True)`` and never retried otherwise, whatever
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ortkit.base import UsageError, absolute_source
from ortkit.base import file_sha256
from ortkit.exporter._errors import SourceError
from ortkit.exporter._input_specs import SYMBOLIC_DIMS, parse_input_spec, parse_input_specs
from ortkit.exporter._weights import apply_state_dict, first_line, load_state_dict_file, precheck_checkpoint
from ortkit.models import ModelSpec, TensorSpec

__all__ = ["ModelSource", "resolve_source", "parse_input_spec", "parse_input_specs", "load_state_dict_file", "SYMBOLIC_DIMS"]


@dataclass
class ModelSource:
    """A resolved source: the module (in eval mode) and everything the export records about it."""

    module: Any  # torch.nn.Module
    spec: ModelSpec
    origin: str  # "zoo" | "checkpoint" | "factory"
    label: str  # the source string as given
    trained: bool
    task: str | None = None  # task for calibration and before/after metrics
    task_options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    int_high: int = 8  # random integer inputs are drawn from [0, int_high) (see integer_range)

    def describe(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "source": self.label,
            "trained": self.trained,
            "task": self.task,
            "task_options": self.task_options,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            # The factory with its file made absolute: what the profiler's PyTorch baseline builds.
            **({"factory": absolute_source(self.label)} if self.origin == "factory" else {}),
        }


def resolve_source(
    source: str,
    *,
    checkpoint: str | Path | None = None,
    inputs: Sequence[str | TensorSpec] | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    example_time: int = 16,
) -> ModelSource:
    """Turn a source string into a `ModelSource` (module in eval mode, spec, provenance).

    Args:
        source: zoo name, ortkit checkpoint folder, ``file.py:factory`` or ``pkg.module:factory``.
        checkpoint: state dict for a zoo model or a user factory (safetensors or torch file).
        inputs: input signature for a user factory (``x:float32:batch,time,64`` or TensorSpecs).
        overrides: hyperparameter overrides for a zoo model.
        seed: torch seed for random weights.
        example_time: the example length (and size of other named dims) a user model is probed at.

    Raises:
        SourceError, UnsafeCheckpoint, UsageError: as their names say; each one line.
    """
    import torch

    torch.manual_seed(seed)
    specs = parse_input_specs(inputs or ())
    path = Path(source)
    if ":" in source and not path.exists():
        if overrides:
            raise UsageError("hyperparameter overrides apply to zoo models only, not to a user factory")
        result = _from_factory(source, checkpoint, specs, example_time)
    elif path.exists():
        if checkpoint is not None:
            raise UsageError(f"{source!r} is an ortkit checkpoint already; --checkpoint applies to zoo names and factories")
        result = _from_ortkit_checkpoint(path, specs)
    elif "/" in source or source.endswith((".py", ".safetensors", ".pt", ".pth", ".json")):
        raise SourceError(f"source {source!r} does not exist (give a zoo name, an ortkit checkpoint folder, or FILE.py:FACTORY)")
    else:
        result = _from_zoo(source, checkpoint, specs, overrides or {})
    result.int_high = integer_range(result.module)
    return result


def integer_range(module: Any) -> int:
    """Random integer inputs stay below the smallest embedding's vocabulary (8 without one):
    token ids past it would make PyTorch raise, not test the export."""
    import torch

    sizes = [int(m.num_embeddings) for m in module.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    return max(1, min(sizes)) if sizes else 8


def _from_zoo(name: str, checkpoint: str | Path | None, specs: list[TensorSpec], overrides: Mapping[str, Any]) -> ModelSource:
    from ortkit.models import create_model

    if specs:
        raise UsageError("--input-spec is for user factories; a zoo model declares its own inputs")
    module = create_model(name, **overrides).eval()
    spec: ModelSpec = module.ortkit_spec
    result = ModelSource(module=module, spec=spec, origin="zoo", label=name, trained=False, task=spec.preset)
    if checkpoint is None:
        result.warnings.append(
            f"zoo model {name!r} has random weights (no checkpoint given): the export is verified, "
            "but its predictions are meaningless; train one with `ortkit train`"
        )
    else:
        apply_state_dict(module, load_state_dict_file(checkpoint), checkpoint)
        result.checkpoint, result.checkpoint_sha256 = str(checkpoint), file_sha256(Path(checkpoint))
        result.trained = True
        result.task = None  # unknown which task this state dict was trained on
    return result


def _from_ortkit_checkpoint(path: Path, specs: list[TensorSpec]) -> ModelSource:
    folder = path if path.is_dir() else path.parent
    if not (folder / "manifest.json").is_file():
        raise SourceError(
            f"{str(path)!r} is not an ortkit checkpoint (no manifest.json next to it); for a bare "
            "state dict use a zoo name or FILE.py:FACTORY with --checkpoint"
        )
    if specs:
        raise UsageError("--input-spec is for user factories; an ortkit checkpoint declares its own inputs")
    from ortkit.models import load_checkpoint

    precheck_checkpoint(folder)
    try:
        module, manifest = load_checkpoint(folder)
    except (MemoryError, RuntimeError) as error:
        # Building the model the manifest names failed inside torch (an allocation that cannot
        # succeed, a size that overflows): a broken or hostile manifest, not a bug.
        raise SourceError(f"{str(folder)!r}: cannot build the model its manifest describes: {first_line(error)[:200]}") from None
    module = module.eval()
    spec: ModelSpec = module.ortkit_spec
    task = getattr(manifest, "task", None)
    options = getattr(manifest, "task_options", None) or {}
    weights = folder / "model.safetensors"
    return ModelSource(
        module=module, spec=spec, origin="checkpoint", label=str(path), trained=True,
        task=str(task) if task else spec.preset, task_options=dict(options),
        checkpoint=str(folder), checkpoint_sha256=file_sha256(weights) if weights.is_file() else None,
    )


def check_arity(module: Any, specs: Sequence[TensorSpec], label: str) -> None:
    """The number of inputs must fit the module's ``forward`` (positional, in order).

    Raises:
        UsageError: too few or too many inputs (the forward's parameters are named).
    """
    import inspect

    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    if len(required) <= len(specs) <= len(positional):
        return
    names = ", ".join(p.name for p in positional)
    given = ", ".join(s.name for s in specs)
    raise UsageError(
        f"{label}: forward({names}) takes {len(required)}"
        + (f" to {len(positional)}" if len(positional) != len(required) else "")
        + f" input(s) but {len(specs)} --input-spec given ({given}); give one --input-spec per argument, in order"
    )


def _load_factory(source: str) -> Any:
    from ortkit.base import FactoryError, import_factory

    try:
        return import_factory(source)
    except FactoryError as error:
        raise SourceError(str(error)) from None


def _from_factory(source: str, checkpoint: str | Path | None, specs: list[TensorSpec], example_time: int = 16) -> ModelSource:
    import torch

    factory = _load_factory(source)
    try:
        module = factory()
    except MemoryError:
        raise SourceError(f"calling factory {source!r} failed: out of memory") from None
    except Exception as error:
        raise SourceError(f"calling factory {source!r} failed: {type(error).__name__}: {first_line(error)}") from None
    if not isinstance(module, torch.nn.Module):
        raise SourceError(f"factory {source!r} returned {type(module).__name__}, not a torch.nn.Module")
    module = module.eval()
    result_trained = False
    ckpt_sha = None
    if checkpoint is not None:
        apply_state_dict(module, load_state_dict_file(checkpoint), checkpoint)
        result_trained, ckpt_sha = True, file_sha256(Path(checkpoint))
    declared = getattr(module, "ortkit_spec", None)
    if isinstance(declared, ModelSpec):
        spec = declared
    else:
        if not specs:
            raise UsageError(
                f"{source!r} is a user model: give its inputs with --input-spec NAME:DTYPE:DIMS "
                "(e.g. --input-spec x:float32:batch,time,64)"
            )
        check_arity(module, specs, source)
        spec = infer_spec(module, source.rpartition(":")[2], specs, example_time)
    return ModelSource(
        module=module, spec=spec, origin="factory", label=source, trained=result_trained,
        checkpoint=str(checkpoint) if checkpoint is not None else None, checkpoint_sha256=ckpt_sha,
    )


def recurrent_modules(module: Any) -> list[Any]:
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]


def infer_spec(module: Any, name: str, inputs: Sequence[TensorSpec], example_time: int = 16) -> ModelSpec:
    """A `ModelSpec` for a user module: family, recurrent layers and causality from its layers,
    output names ``y`` (or ``y0``, ``y1``...) and output dims from running it at two shapes
    (batch 2 and 3, time ``example_time`` and ``example_time + 7``): an output axis that follows
    an input's symbolic dim gets its name, one that changes otherwise gets ``<output>_dim<axis>``.

    Raises:
        SourceError: the module fails on inputs of the declared signature, or returns something
            other than tensors.
    """
    import torch

    from ortkit.exporter._verify import dim_sizes

    rnns = recurrent_modules(module)
    convs = [m for m in module.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    family = "hybrid" if rnns and convs else "rnn" if rnns else "cnn"
    high = integer_range(module)
    outputs_a = _run_outputs(module, inputs, 2, example_time, high)
    outputs_b = _run_outputs(module, inputs, 3, example_time + 7, high)
    if len(outputs_a) != len(outputs_b):
        raise SourceError(f"the model returns {len(outputs_a)} outputs at one shape and {len(outputs_b)} at another")
    sizes_a, sizes_b = dim_sizes(inputs, 2, example_time), dim_sizes(inputs, 3, example_time + 7)
    used = {d for s in inputs for d in s.dims if isinstance(d, str)}
    pairs = {(sizes_a[n], sizes_b[n]): n for n in reversed(list(sizes_a)) if n in used}
    names = ["y"] if len(outputs_a) == 1 else [f"y{i}" for i in range(len(outputs_a))]
    out_specs = []
    for out_name, a, b in zip(names, outputs_a, outputs_b):
        if a.dim() != b.dim():
            raise SourceError(f"output {out_name} has rank {a.dim()} at one shape and {b.dim()} at another")
        dims: list[int | str] = []
        for axis, (da, db) in enumerate(zip(a.shape, b.shape)):
            if da == db:
                dims.append(int(da))
            else:
                dims.append(pairs.get((int(da), int(db)), f"{out_name}_dim{axis}"))
        out_specs.append(TensorSpec(out_name, str(a.dtype).replace("torch.", ""), tuple(dims)))
    return ModelSpec(
        name=name, family=family, task_kind="unknown", inputs=tuple(inputs), outputs=tuple(out_specs),
        hyperparameters=(), causal=bool(rnns) and not convs and not any(r.bidirectional for r in rnns),
        recurrent_layers=sum(int(r.num_layers) for r in rnns),
        parameters=sum(p.numel() for p in module.parameters()), description="user model",
    )


def _run_outputs(module: Any, inputs: Sequence[TensorSpec], batch: int, time: int, int_high: int = 8) -> list[Any]:
    import torch

    from ortkit.exporter._verify import flatten_outputs, make_inputs

    feeds = make_inputs(inputs, batch, time, seed=0, int_high=int_high)
    try:
        # The model's own warnings (oneDNN fallbacks and the like) would reach the user's terminal
        # unexplained; the export that follows judges the model.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = module(*[torch.from_numpy(v) for v in feeds.values()])
    except MemoryError:
        raise SourceError("the model ran out of memory on the declared signature") from None
    except Exception as error:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in feeds.items())
        raise SourceError(f"the model fails on inputs {shapes} of the declared signature: {type(error).__name__}: {first_line(error)}") from None
    if isinstance(out, torch.nn.utils.rnn.PackedSequence):
        raise SourceError("the model returns a PackedSequence: unpack it (pad_packed_sequence) or return tensors")
    flat = flatten_outputs(out)
    wrong = [type(t).__name__ for t in flat if not isinstance(t, torch.Tensor)]
    if wrong or not flat:
        raise SourceError(
            f"the model returns {', '.join(wrong) if wrong else 'nothing'}; an exportable model returns a tensor, "
            "or a tuple, list or dict of tensors"
        )
    return flat
