"""Loading weights without ever executing code: safetensors, or torch files read with
``weights_only=True`` and never retried otherwise, and ortkit checkpoint folders checked before
torch reads them."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ortkit.exporter._errors import SourceError, UnsafeCheckpoint

if TYPE_CHECKING:  # pragma: no cover
    import torch


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
            raise SourceError(f"checkpoint {str(path)!r} is not a readable safetensors file: {first_line(error)}") from None
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
    return first_line(text)[:160]


def first_line(error: object) -> str:
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
            parts.append(f"missing keys: {listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {listing(unexpected)}")
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: {'; '.join(parts)}")
    wrong = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: shape mismatch in {listing(wrong)}")
    # load_state_dict casts silently: integer weights into a float model would export a wrong
    # (but self-consistent, so verified) model. Float widths may differ (a float16 or float64
    # checkpoint loads exactly or rounds to float32); the kind may not.
    kinds = [
        f"{k} {str(state[k].dtype).replace('torch.', '')} vs model {str(v.dtype).replace('torch.', '')}"
        for k, v in expected.items()
        if _kind(state[k]) != _kind(v)
    ]
    if kinds:
        raise SourceError(f"checkpoint {str(path)!r} does not match the model: dtype mismatch in {listing(kinds)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise SourceError(f"checkpoint {str(path)!r} holds NaN or infinite values in {listing(bad)}")
    module.load_state_dict(dict(state), strict=True)


def _kind(tensor: Any) -> str:
    if tensor.is_floating_point():
        return "float"
    if tensor.is_complex():
        return "complex"
    return "bool" if str(tensor.dtype) == "torch.bool" else "int"


def listing(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


class _TooLarge(Exception):
    pass


def precheck_checkpoint(folder: Path) -> None:
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
        raise SourceError(f"{str(weights)!r} is not a readable safetensors file: {first_line(error)}") from None
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
                f"overflow: {first_line(error)[:200]}"
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


