"""Training checkpoints: a folder with ``model.safetensors`` (weights) and ``manifest.json``.

Loading never executes code: the weights are read with safetensors (a header and raw tensor
bytes, no pickle) and the manifest is plain JSON whose fields are type-checked before the model it
names is rebuilt from the zoo.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ortkit.base import OrtkitError
from ortkit.base import file_sha256

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Manifest", "CheckpointError", "save_checkpoint", "load_checkpoint", "WEIGHTS_FILE", "MANIFEST_FILE"]

WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
_MAX_MANIFEST_BYTES = 1 << 20


class CheckpointError(OrtkitError):
    """A checkpoint that is missing, corrupt, or does not match the model it names."""


@dataclass(frozen=True)
class Manifest:
    """What a checkpoint holds and how it was made (``manifest.json``)."""

    model: str
    overrides: dict[str, Any]
    task: str
    task_options: dict[str, Any]
    metric_name: str
    metric_value: float
    higher_is_better: bool
    seed: int
    training_seconds: float
    epochs: int
    steps: int
    parameters: int
    versions: dict[str, str]
    weights_sha256: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    schema_version: int = MANIFEST_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# field -> accepted JSON types (bool is checked apart from int: JSON true is not a count)
_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,), "overrides": (dict,), "task": (str,), "task_options": (dict,),
    "metric_name": (str,), "metric_value": (int, float), "higher_is_better": (bool,), "seed": (int,),
    "training_seconds": (int, float), "epochs": (int,), "steps": (int,), "parameters": (int,),
    "versions": (dict,), "weights_sha256": (str,), "hyperparameters": (dict,), "created": (str,),
    "schema_version": (int,),
}
_OPTIONAL = {"weights_sha256", "hyperparameters", "created"}


def versions() -> dict[str, str]:
    """Versions of what produced a checkpoint."""
    import numpy
    import torch

    from ortkit.base import ortkit_version

    return {"ortkit": ortkit_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def save_checkpoint(path: str | Path, model: torch.nn.Module, manifest: Manifest) -> Path:
    """Write ``model``'s weights and ``manifest`` into the folder ``path`` (created if needed).

    The weights are written first and the manifest last, with the weights' sha256, so a folder
    with a manifest is complete. Returns the folder.
    """
    from safetensors.torch import save_file

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} exists and is not a folder; pass a folder for the checkpoint")
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_FILE
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"format": "pt", "ortkit.model": manifest.model})
    data = {**manifest.to_dict(), "weights_sha256": file_sha256(weights), "schema_version": MANIFEST_SCHEMA_VERSION}
    tmp = folder / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST_FILE)
    return folder


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate a checkpoint's ``manifest.json`` (``path``: the folder or the file)."""
    folder = _folder(path)
    file = folder / MANIFEST_FILE
    if not file.is_file():
        raise CheckpointError(f"{file}: no manifest (a checkpoint is a folder with {WEIGHTS_FILE} and {MANIFEST_FILE})")
    if file.stat().st_size > _MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{file}: too large for a manifest ({file.stat().st_size} bytes)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{file}: not valid JSON ({error})") from None
    except RecursionError:
        raise CheckpointError(f"{file}: JSON nested too deeply to be a manifest") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file}: expected a JSON object")
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{file}: missing or invalid schema_version")
    if version > MANIFEST_SCHEMA_VERSION:
        raise CheckpointError(f"{file}: schema_version {version} is newer than this ortkit reads "
                              f"({MANIFEST_SCHEMA_VERSION}); upgrade ortkit")
    missing = [k for k in _FIELDS if k not in data and k not in _OPTIONAL]
    if missing:
        raise CheckpointError(f"{file}: missing field(s) {', '.join(missing)}")
    for key, types in _FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise CheckpointError(f"{file}: field {key!r} has the wrong type ({type(value).__name__})")
    known = {k: data[k] for k in _FIELDS if k in data}
    return Manifest(**known)


def _folder(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file() and p.name in {WEIGHTS_FILE, MANIFEST_FILE}:
        return p.parent
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint folder")
    if not p.is_dir():
        raise CheckpointError(f"{p}: not a checkpoint folder (expected a folder with {WEIGHTS_FILE} and {MANIFEST_FILE})")
    return p


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, Manifest]:
    """Rebuild a trained zoo model from a checkpoint folder, in eval mode.

    Args:
        path: the checkpoint folder (or its manifest.json / model.safetensors).

    Returns:
        The module (carrying ``ortkit_spec``) and its `Manifest`.

    Raises:
        CheckpointError: a missing or corrupt file (named in the message), a manifest field of the
            wrong type, a weights hash mismatch, or weights that do not fit the model (missing and
            unexpected keys listed).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ortkit.models._registry import create_model

    manifest = read_manifest(path)
    folder = _folder(path)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file missing")
    if manifest.weights_sha256 and file_sha256(weights) != manifest.weights_sha256:
        raise CheckpointError(f"{weights}: sha256 does not match the manifest (file changed or corrupt)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({str(error).splitlines()[0]})") from None
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest.overrides.items()}
    try:
        model = create_model(manifest.model, **overrides)
    except OrtkitError as error:
        raise CheckpointError(f"{folder / MANIFEST_FILE}: {error}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not fit model {manifest.model!r}: "
            f"missing {missing[:5] or 'none'}, unexpected {unexpected[:5] or 'none'}"
        )
    wrong = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{weights}: tensor {k!r} has shape {tuple(state[k].shape)}, "
                              f"model {manifest.model!r} expects {tuple(expected[k].shape)}")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, manifest
