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

import hashlib
import importlib
import importlib.util
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ortkit.base import UsageError
from ortkit.base import file_sha256
from ortkit.exporter._errors import SourceError, UnsafeCheckpoint
from ortkit.models import ModelSpec, TensorSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ModelSource", "resolve_source", "parse_input_spec", "parse_input_specs", "load_state_dict_file", "SYMBOLIC_DIMS"]

SYMBOLIC_DIMS = ("batch", "time")
_DTYPES = ("float32", "float16", "float64", "int64", "int32", "bool")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Bounds that keep a typo (or a hostile spec) from asking for terabytes of random input.
# Names people use for the batch and time axes: refused with the canonical name, since only
# "batch" and "time" get their own parity shapes (time=1, 4x time...).
_ALIASES = {**{n: "batch" for n in ("b", "n", "bs", "batch_size", "batchsize", "nbatch")},
            **{n: "time" for n in ("t", "seq", "seq_len", "seqlen", "sequence", "sequence_length", "length",
                                   "len", "steps", "timesteps", "time_steps", "frames")}}
MAX_RANK = 8
MAX_FIXED_DIM = 1 << 20
MAX_EXAMPLE_ELEMENTS = 1 << 26


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
        }


def parse_input_spec(text: str) -> TensorSpec:
    """Parse ``NAME:DTYPE:DIM,DIM,...`` (``x:float32:batch,time,64``) into a `TensorSpec`.

    A dim is a positive integer or a symbolic name: ``batch``, ``time``, or any other identifier
    (``x:float32:batch,3,H,W`` for an image of any height and width).

    Raises:
        UsageError: a malformed spec (the message shows the expected form).
    """
    form = "expected NAME:DTYPE:DIM,DIM,... such as x:float32:batch,time,64"
    if not isinstance(text, str):
        raise UsageError(f"bad input spec {text!r}: {form}")
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"bad --input {text!r}: {form}")
    name, dtype, dims_text = parts
    if not _NAME.match(name):
        raise UsageError(f"bad --input {text!r}: {name!r} is not a valid tensor name; {form}")
    if dtype not in _DTYPES:
        raise UsageError(f"bad --input {text!r}: dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    dims: list[int | str] = []
    for dim in dims_text.split(","):
        dim = dim.strip()
        if dim.isascii() and dim.isdigit() and 1 <= int(dim) <= MAX_FIXED_DIM:
            dims.append(int(dim))
        elif dim.isascii() and dim.isdigit():
            raise UsageError(f"bad --input {text!r}: dim {dim} is outside 1..{MAX_FIXED_DIM}")
        elif dim.lower() in _ALIASES:
            raise UsageError(
                f"bad --input {text!r}: write {_ALIASES[dim.lower()]!r} for the {_ALIASES[dim.lower()]} axis, not {dim!r} "
                "(ortkit verifies the axes named batch and time at the sizes that matter for them)"
            )
        elif _DIM_NAME.match(dim):
            dims.append(dim)
        else:
            raise UsageError(
                f"bad --input {text!r}: dim {dim!r} must be a positive integer or a symbolic name "
                f"(batch, time, or another identifier such as H)"
            )
    if len(dims) > MAX_RANK:
        raise UsageError(f"bad --input {text!r}: rank {len(dims)} is more than {MAX_RANK}")
    if dims.count("batch") > 1 or dims.count("time") > 1:
        raise UsageError(f"bad --input {text!r}: 'batch' and 'time' may each appear once")
    return TensorSpec(name, dtype, tuple(dims))


def parse_input_specs(items: Sequence[str | TensorSpec]) -> list[TensorSpec]:
    """Parse several input specs; names must be unique.

    Raises:
        UsageError: a malformed spec, a duplicate name, or a signature whose example is too large.
    """
    specs = [parse_input_spec(s) if isinstance(s, str) else s for s in items]
    for spec in specs:
        if not isinstance(spec, TensorSpec):
            raise UsageError(f"bad input spec {spec!r}: expected NAME:DTYPE:DIM,... or a TensorSpec")
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(f"--input name {', '.join(map(repr, duplicated))} given more than once; each input needs its own name")
    return specs


def check_example_size(specs: Sequence[TensorSpec], batch: int, time: int) -> None:
    """Refuse a signature whose largest verification input would not fit in memory.

    Raises:
        UsageError: more than `MAX_EXAMPLE_ELEMENTS` elements at the long-time parity shape.
    """
    from ortkit.exporter._verify import concrete_shape, dim_sizes

    sizes = dim_sizes(specs, max(batch + 3, 4 * batch + 1), 4 * time + 5)
    total = 0
    for spec in specs:
        count = 1
        for n in concrete_shape(spec, sizes):
            count *= n
        total += count
    if total > MAX_EXAMPLE_ELEMENTS:
        raise UsageError(
            f"the inputs {', '.join(s.name for s in specs)} would need {total:,} elements at the largest "
            f"verification shape (limit {MAX_EXAMPLE_ELEMENTS:,}); use smaller fixed dims or --example-time"
        )


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a torch file, without ever executing code.

    Raises:
        SourceError: the file is missing, unreadable, or holds no tensors.
        UnsafeCheckpoint: a torch file whose pickle references code (refused, nothing executed).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"checkpoint {str(path)!r} does not exist" if not path.exists()
                          else f"checkpoint {str(path)!r} is not a file")
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as error:  # safetensors raises its own SafetensorError and OSError
            raise SourceError(f"checkpoint {str(path)!r} is not a readable safetensors file: {_first_line(error)}") from None
    try:
        # weights_only=True written out: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 only changes the
        # default, never an explicit argument. There is no unsafe retry anywhere in ortkit.
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        text = str(error)
        if "GLOBAL" in text or "global" in text.split("Weights only load failed")[-1][:2000]:
            blocked = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" (it references {blocked.group(1)})" if blocked else ""
            raise UnsafeCheckpoint(
                f"checkpoint {str(path)!r} refused: it carries a pickle payload that would run code{what}; "
                "ortkit loads torch files with weights_only=True only. Save a plain state_dict "
                "(torch.save(model.state_dict(), ...)) or safetensors instead"
            ) from None
        kind = "torch zip archive" if zipfile.is_zipfile(path) else "file"
        raise SourceError(f"checkpoint {str(path)!r} is corrupt or not a torch checkpoint ({kind}): {_checkpoint_reason(text)}") from None
    return _as_state_dict(data, path)


def _looks_like_safetensors(path: Path) -> bool:
    """safetensors starts with an 8-byte little-endian header length, then a JSON object."""
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def _checkpoint_reason(text: str) -> str:
    for marker in ("failed finding central directory", "Unsupported operand", "invalid load key", "EOF"):
        if marker in text:
            return marker
    return _first_line(text)[:160]


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _as_state_dict(data: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(data, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = data.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            return dict(data)
    raise SourceError(
        f"checkpoint {str(path)!r} holds no state dict (a mapping of parameter names to tensors, "
        "optionally under 'state_dict' or 'model')"
    )


def apply_state_dict(module: Any, state: Mapping[str, Any], path: str | Path) -> None:
    """Load ``state`` into ``module`` strictly; a mismatch lists missing and unexpected keys.

    Raises:
        SourceError: keys or shapes do not match the model.
    """
    import torch

    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: {'; '.join(parts)}")
    wrong = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: shape mismatch in {_listing(wrong)}")
    # load_state_dict casts silently: integer weights into a float model would export a wrong
    # (but self-consistent, so verified) model. Float widths may differ (a float16 or float64
    # checkpoint loads exactly or rounds to float32); the kind may not.
    kinds = [
        f"{k} {str(state[k].dtype).replace('torch.', '')} vs model {str(v.dtype).replace('torch.', '')}"
        for k, v in expected.items()
        if _kind(state[k]) != _kind(v)
    ]
    if kinds:
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: dtype mismatch in {_listing(kinds)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise SourceError(f"checkpoint {str(path)!r} holds NaN or infinite values in {_listing(bad)}")
    module.load_state_dict(dict(state), strict=True)


def _kind(tensor: Any) -> str:
    if tensor.is_floating_point():
        return "float"
    if tensor.is_complex():
        return "complex"
    return "bool" if str(tensor.dtype) == "torch.bool" else "int"


def _listing(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


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
        raise UsageError("--input is for user factories; a zoo model declares its own inputs")
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
        raise UsageError("--input is for user factories; an ortkit checkpoint declares its own inputs")
    from ortkit.models import load_checkpoint

    _precheck_checkpoint(folder)
    try:
        module, manifest = load_checkpoint(folder)
    except (MemoryError, RuntimeError) as error:
        # Building the model the manifest names failed inside torch (an allocation that cannot
        # succeed, a size that overflows): a broken or hostile manifest, not a bug.
        raise SourceError(f"{str(folder)!r}: cannot build the model its manifest describes: {_first_line(error)[:200]}") from None
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


class _TooLarge(Exception):
    pass


def _precheck_checkpoint(folder: Path) -> None:
    """Refuse, before anything is allocated, a manifest that describes a model far larger than
    the weights file next to it (``hidden_size: 1e12``, ``num_layers: 1e6``): a hostile or broken
    manifest must not make the exporter allocate terabytes or loop for hours. The model is built
    on the meta device (no memory) with a registration hook that stops it once it holds more
    tensors or values than the file. Anything else is left to `load_checkpoint` to report.

    Raises:
        SourceError: the manifest's model is much larger than the weights.
    """
    import torch
    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    from ortkit.base import OrtkitError
    from ortkit.models import create_model
    from ortkit.models import read_manifest

    weights = folder / "model.safetensors"
    if not weights.is_file():
        return
    try:
        manifest = read_manifest(folder)  # a CheckpointError (one line) for a malformed manifest
    except RecursionError:
        raise SourceError(f"{str(folder / 'manifest.json')!r}: not a manifest (JSON nested too deeply)") from None
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            shapes = [handle.get_slice(k).get_shape() for k in handle.keys()]
    except Exception as error:  # safetensors raises its own error types
        raise SourceError(f"{str(weights)!r} is not a readable safetensors file: {_first_line(error)}") from None
    tensors = len(shapes)
    values = sum(_numel(shape) for shape in shapes)
    limit_tensors, limit_values = 2 * tensors + 64, 2 * values + (1 << 20)
    seen = [0, 0]

    def hook(module: Any, name: str, tensor: Any) -> None:
        if tensor is None:
            return
        seen[0] += 1
        seen[1] += int(tensor.numel())
        if seen[0] > limit_tensors or seen[1] > limit_values:
            raise _TooLarge

    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest.overrides.items()}
    handles = [register_module_parameter_registration_hook(hook), register_module_buffer_registration_hook(hook)]
    try:
        with torch.device("meta"):
            create_model(manifest.model, **overrides)
    except _TooLarge:
        raise SourceError(
            f"{str(folder / 'manifest.json')!r} describes a model ({manifest.model} with {overrides}) far larger than "
            f"its weights file ({tensors} tensors, {values:,} values); refusing to build it"
        ) from None
    except RuntimeError as error:
        if "overflow" in str(error):  # a size that does not even fit in 64 bits
            raise SourceError(
                f"{str(folder / 'manifest.json')!r} describes a model ({manifest.model} with {overrides}) whose sizes "
                f"overflow: {_first_line(error)[:200]}"
            ) from None
    except (OrtkitError, Exception):  # noqa: BLE001 - not meta-safe or invalid: load_checkpoint reports
        pass
    finally:
        for handle in handles:
            handle.remove()


def _numel(shape: Sequence[int]) -> int:
    count = 1
    for n in shape:
        count *= int(n)
    return count


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
        + f" input(s) but {len(specs)} --input given ({given}); give one --input per argument, in order"
    )


def _load_factory(source: str) -> Any:
    target, _, attr = source.rpartition(":")
    if not target or not attr:
        raise SourceError(f"bad source {source!r}: expected FILE.py:FACTORY or package.module:FACTORY")
    if target.endswith(".py"):
        file = Path(target)
        if not file.is_file():
            raise SourceError(f"factory file {target!r} does not exist")
        name = "ortkit_user_" + hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise SourceError(f"cannot import {target!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise SourceError(f"importing {target!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise SourceError(f"cannot import module {target!r}: {_first_line(error)}") from None
        except Exception as error:
            raise SourceError(f"importing {target!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        available = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
        hint = f"; callables there: {', '.join(available[:10])}" if available else ""
        raise SourceError(f"factory {attr!r} not found in {target!r}{hint}")
    return factory


def _from_factory(source: str, checkpoint: str | Path | None, specs: list[TensorSpec], example_time: int = 16) -> ModelSource:
    import torch

    factory = _load_factory(source)
    try:
        module = factory()
    except MemoryError:
        raise SourceError(f"calling factory {source!r} failed: out of memory") from None
    except Exception as error:
        raise SourceError(f"calling factory {source!r} failed: {type(error).__name__}: {_first_line(error)}") from None
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
                f"{source!r} is a user model: give its inputs with --input NAME:DTYPE:DIMS "
                "(e.g. --input x:float32:batch,time,64)"
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
        raise SourceError(f"the model fails on inputs {shapes} of the declared signature: {type(error).__name__}: {_first_line(error)}") from None
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
