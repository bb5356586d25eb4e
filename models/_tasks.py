"""Tasks: deterministic data splits and the metric each is scored with.

Every task returns numpy arrays, so the exporter (calibration, accuracy after quantization) and the
profiler can use them without torch. Splits are fixed by the task's ``seed`` option: the same
options always give the same arrays.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from ortkit.models._fashion_mnist import FASHION_MNIST_DIRS, FASHION_MNIST_ENV, FashionMnistTask
from ortkit.models._task_base import BadTaskOption, DatasetMissing, Task, UnknownTask
from ortkit.models._task_claims import CopyMemoryTask, LocalMotifTask
from ortkit.models._task_data import AddingTask, DigitsTask, SeqDigitsTask

__all__ = [
    "Task",
    "AddingTask",
    "SeqDigitsTask",
    "CopyMemoryTask",
    "LocalMotifTask",
    "DigitsTask",
    "FashionMnistTask",
    "UnknownTask",
    "BadTaskOption",
    "DatasetMissing",
    "get_task",
    "list_tasks",
    "task_kind",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_DIRS",
]

_TASKS: dict[str, type[Task]] = {
    t.name: t for t in (AddingTask, SeqDigitsTask, DigitsTask, FashionMnistTask, CopyMemoryTask, LocalMotifTask)
}


def list_tasks() -> list[str]:
    """Names of the tasks, sorted."""
    return sorted(_TASKS)


def _task_class(name: str) -> type[Task]:
    cls = _TASKS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, list(_TASKS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownTask(f"unknown task {name!r}: {hint}tasks: {', '.join(list_tasks())}")
    return cls


def get_task(name: str, **options: Any) -> Task:
    """The task ``name`` with ``options`` (e.g. ``get_task("adding", length=200)``).

    Raises:
        UnknownTask: no such task (the message lists close matches).
        BadTaskOption: an option the task does not take (the message lists the valid ones).
    """
    return _task_class(name)(**options)


def task_kind(name: str) -> str:
    """``"classification"`` or ``"regression"`` for task ``name``."""
    return _task_class(name).kind


def task_defaults(name: str) -> Mapping[str, Any]:
    return dict(_task_class(name).defaults)
