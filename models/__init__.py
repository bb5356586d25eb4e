"""The reference model zoo, its tasks, training and checkpoints.

Importing this package does not import torch: factories, training and checkpoint loading import it
when called. See docs/models.md.
"""

from __future__ import annotations

from ortkit.models._registry import (
    get_entry,
    BadOverride,
    ModelSpec,
    TensorSpec,
    UnknownModel,
    create_model,
    get_spec,
    list_models,
    register_model,
)
from ortkit.models._checkpoint import CheckpointError, Manifest, load_checkpoint, save_checkpoint
from ortkit.models._tasks import (
    BadTaskOption,
    DatasetMissing,
    Task,
    UnknownTask,
    get_task,
    list_tasks,
)
from ortkit.models._training import TRAIN_KEYS, TrainProgress, TrainResult, TrainSettings, evaluate, train, validate_request

from ortkit.models._checkpoint import read_manifest
from ortkit.models._describe import describe_models

__all__ = [
    "BadOverride",
    "BadTaskOption",
    "CheckpointError",
    "create_model",
    "DatasetMissing",
    "describe_models",
    "evaluate",
    "get_spec",
    "get_task",
    "list_models",
    "list_tasks",
    "load_checkpoint",
    "Manifest",
    "ModelSpec",
    "read_manifest",
    "register_model",
    "save_checkpoint",
    "Task",
    "TensorSpec",
    "train",
    "get_entry",
    "TRAIN_KEYS",
    "validate_request",
    "TrainProgress",
    "TrainResult",
    "TrainSettings",
    "UnknownModel",
    "UnknownTask",
]
