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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ortkit._errors import UsageError
from ortkit.exporter._errors import SourceError, UnsafeCheckpoint
from ortkit.models._registry import ModelSpec, TensorSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ModelSource", "resolve_source", "parse_input_spec", "load_state_dict_file", "SYMBOLIC_DIMS"]

SYMBOLIC_DIMS = ("batch", "time")
_DTYPES = ("float32", "float16", "float64", "int64", "int32", "bool")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


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

    Raises:
        UsageError: a malformed spec (the message shows the expected form).
    """
    form = "expected NAME:DTYPE:DIM,DIM,... such as x:float32:batch,time,64"
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
        if dim.isdigit() and int(dim) >= 1:
            dims.append(int(dim))
        elif dim in SYMBOLIC_DIMS:
            dims.append(dim)
        else:
            raise UsageError(
                f"bad --input {text!r}: dim {dim!r} must be a positive integer or one of the "
                f"symbolic names {', '.join(SYMBOLIC_DIMS)}"
            )
    return TensorSpec(name, dtype, tuple(dims))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a torch file, without ever executing code.

    Raises:
        SourceError: the file is missing, unreadable, or holds no tensors.
        UnsafeCheckpoint: a torch file whose pickle references code (refused, nothing executed).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"checkpoint {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
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
    module.load_state_dict(dict(state), strict=True)


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
) -> ModelSource:
    """Turn a source string into a `ModelSource` (module in eval mode, spec, provenance).

    Args:
        source: zoo name, ortkit checkpoint folder, ``file.py:factory`` or ``pkg.module:factory``.
        checkpoint: state dict for a zoo model or a user factory (safetensors or torch file).
        inputs: input signature for a user factory (``x:float32:batch,time,64`` or TensorSpecs).
        overrides: hyperparameter overrides for a zoo model.
        seed: torch seed for random weights.

    Raises:
        SourceError, UnsafeCheckpoint, UsageError: as their names say; each one line.
    """
    import torch

    torch.manual_seed(seed)
    specs = [parse_input_spec(s) if isinstance(s, str) else s for s in (inputs or ())]
    path = Path(source)
    if ":" in source and not path.exists():
        if overrides:
            raise UsageError("hyperparameter overrides apply to zoo models only, not to a user factory")
        return _from_factory(source, checkpoint, specs)
    if path.exists():
        if checkpoint is not None:
            raise UsageError(f"{source!r} is an ortkit checkpoint already; --checkpoint applies to zoo names and factories")
        return _from_ortkit_checkpoint(path, specs)
    if "/" in source or source.endswith((".py", ".safetensors", ".pt", ".pth", ".json")):
        raise SourceError(f"source {source!r} does not exist (give a zoo name, an ortkit checkpoint folder, or FILE.py:FACTORY)")
    return _from_zoo(source, checkpoint, specs, overrides or {})


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
        result.checkpoint, result.checkpoint_sha256 = str(checkpoint), _sha256(Path(checkpoint))
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

    module, manifest = load_checkpoint(folder)
    module = module.eval()
    spec: ModelSpec = module.ortkit_spec
    task = getattr(manifest, "task", None)
    options = getattr(manifest, "task_options", None) or {}
    weights = folder / "model.safetensors"
    return ModelSource(
        module=module, spec=spec, origin="checkpoint", label=str(path), trained=True,
        task=str(task) if task else spec.preset, task_options=dict(options),
        checkpoint=str(folder), checkpoint_sha256=_sha256(weights) if weights.is_file() else None,
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


def _from_factory(source: str, checkpoint: str | Path | None, specs: list[TensorSpec]) -> ModelSource:
    import torch

    factory = _load_factory(source)
    try:
        module = factory()
    except Exception as error:
        raise SourceError(f"calling factory {source!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    if not isinstance(module, torch.nn.Module):
        raise SourceError(f"factory {source!r} returned {type(module).__name__}, not a torch.nn.Module")
    module = module.eval()
    result_trained = False
    ckpt_sha = None
    if checkpoint is not None:
        apply_state_dict(module, load_state_dict_file(checkpoint), checkpoint)
        result_trained, ckpt_sha = True, _sha256(Path(checkpoint))
    declared = getattr(module, "ortkit_spec", None)
    if isinstance(declared, ModelSpec):
        spec = declared
    else:
        if not specs:
            raise UsageError(
                f"{source!r} is a user model: give its inputs with --input NAME:DTYPE:DIMS "
                "(e.g. --input x:float32:batch,time,64)"
            )
        spec = infer_spec(module, source.rpartition(":")[2], specs)
    return ModelSource(
        module=module, spec=spec, origin="factory", label=source, trained=result_trained,
        checkpoint=str(checkpoint) if checkpoint is not None else None, checkpoint_sha256=ckpt_sha,
    )


def recurrent_modules(module: Any) -> list[Any]:
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]


def infer_spec(module: Any, name: str, inputs: Sequence[TensorSpec]) -> ModelSpec:
    """A `ModelSpec` for a user module: family, recurrent layers and causality from its layers,
    output names ``y`` (or ``y0``, ``y1``...) and output dims from running it at two shapes.

    Raises:
        SourceError: the module fails on inputs of the declared signature.
    """
    import torch

    rnns = recurrent_modules(module)
    convs = [m for m in module.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    family = "hybrid" if rnns and convs else "rnn" if rnns else "cnn"
    outputs_a = _run_outputs(module, inputs, 2, 5)
    outputs_b = _run_outputs(module, inputs, 3, 7)
    names = ["y"] if len(outputs_a) == 1 else [f"y{i}" for i in range(len(outputs_a))]
    out_specs = []
    for out_name, a, b in zip(names, outputs_a, outputs_b):
        dims: list[int | str] = []
        for axis, (da, db) in enumerate(zip(a.shape, b.shape)):
            if da == db:
                dims.append(int(da))
            elif (da, db) == (2, 3):
                dims.append("batch")
            elif (da, db) == (5, 7):
                dims.append("time")
            else:
                dims.append(f"{out_name}_dim{axis}")
        out_specs.append(TensorSpec(out_name, str(a.dtype).replace("torch.", ""), tuple(dims)))
    return ModelSpec(
        name=name, family=family, task_kind="unknown", inputs=tuple(inputs), outputs=tuple(out_specs),
        hyperparameters=(), causal=bool(rnns) and not convs and not any(r.bidirectional for r in rnns),
        recurrent_layers=sum(int(r.num_layers) for r in rnns),
        parameters=sum(p.numel() for p in module.parameters()), description="user model",
    )


def _run_outputs(module: Any, inputs: Sequence[TensorSpec], batch: int, time: int) -> list[Any]:
    import torch

    from ortkit.exporter._verify import make_inputs, flatten_outputs

    feeds = make_inputs(inputs, batch, time, seed=0)
    try:
        with torch.no_grad():
            out = module(*[torch.from_numpy(v) for v in feeds.values()])
    except Exception as error:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in feeds.items())
        raise SourceError(f"the model fails on inputs {shapes} of the declared signature: {type(error).__name__}: {_first_line(error)}") from None
    return flatten_outputs(out)
