"""The reference model zoo, its tasks, training and checkpoints.

Importing this package does not import torch: factories, training and checkpoint loading import it
when called. See docs/models.md.
"""

from __future__ import annotations

from ortkit.models._registry import (
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
from ortkit.models._training import TrainProgress, TrainResult, TrainSettings, evaluate, train

from ortkit.models._checkpoint import read_manifest
from ortkit.models._describe import describe_models
from ortkit.models._training import run_training_cli

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
    "run_training_cli",
    "save_checkpoint",
    "Task",
    "TensorSpec",
    "train",
    "TrainProgress",
    "TrainResult",
    "TrainSettings",
    "UnknownModel",
    "UnknownTask",
]
