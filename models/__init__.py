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

__all__ = [
    "TensorSpec",
    "ModelSpec",
    "register_model",
    "create_model",
    "get_spec",
    "list_models",
    "UnknownModel",
    "BadOverride",
    "Task",
    "get_task",
    "list_tasks",
    "UnknownTask",
    "BadTaskOption",
    "DatasetMissing",
    "Manifest",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "evaluate",
    "TrainResult",
    "TrainSettings",
    "TrainProgress",
]
