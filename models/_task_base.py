"""What every task is: deterministic splits, a metric, and the errors tasks raise."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ortkit.base import OrtkitError

SPLITS = ("train", "val", "test")


class UnknownTask(OrtkitError):
    """A task name that does not exist."""


class BadTaskOption(OrtkitError):
    """A task option the task does not take, or a value it cannot use."""


class DatasetMissing(OrtkitError):
    """The files a task reads are not on this machine."""


class Task:
    """A supervised task with fixed train/val/test splits.

    Subclasses set the class attributes and implement ``_make(split)``. ``options`` are the
    resolved options (defaults plus what was asked), recorded in checkpoints.
    """

    name: ClassVar[str]
    kind: ClassVar[str]  # "classification" or "regression"
    metric_name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    input_kind: ClassVar[str] = "sequence"  # "sequence" or "image"
    defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            keys = ", ".join(self.defaults) or "none"
            raise BadTaskOption(f"task {self.name!r} has no option {', '.join(map(repr, unknown))}; valid options: {keys}")
        self.options: dict[str, Any] = {**self.defaults, **options}
        for key, value in self.options.items():
            self.options[key] = self._check(key, value, self.defaults[key])
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _check(self, key: str, value: Any, default: Any) -> Any:
        def bad(expected: str) -> BadTaskOption:
            return BadTaskOption(f"task {self.name!r}: {key}={value!r} is invalid, expected {expected}")

        if isinstance(default, bool):
            if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
                return value.lower() in {"true", "1"}
            if not isinstance(value, bool):
                raise bad("true or false")
        elif isinstance(default, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad("an integer >= 0")
        elif default is None or isinstance(default, str):
            if value is not None and not isinstance(value, str):
                raise bad("a string")
        return value

    # -- the contract ------------------------------------------------------------------------
    @property
    def input_features(self) -> int:
        """Features per time step (sequence tasks) or channels (image tasks)."""
        raise NotImplementedError

    @property
    def num_outputs(self) -> int:
        raise NotImplementedError

    @property
    def time_steps(self) -> int | None:
        """The sequence length of the task's data (None for image tasks)."""
        return None

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The split's inputs (float32) and targets (int64 class ids, or float32 (N, outputs)).

        Raises:
            BadTaskOption: ``split`` is not train, val or test.
            DatasetMissing: the task's files are not on this machine.
        """
        if split not in SPLITS:
            raise BadTaskOption(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        if split not in self._cache:
            x, y = self._make(split)
            x = np.ascontiguousarray(x, dtype=np.float32)
            y = np.ascontiguousarray(y, dtype=np.int64 if self.kind == "classification" else np.float32)
            x.setflags(write=False)
            y.setflags(write=False)
            self._cache[split] = (x, y)
        return self._cache[split]

    def metric(self, pred: np.ndarray, y: np.ndarray) -> float:
        """Score predictions: accuracy from logits (classification) or MSE (regression)."""
        pred = np.asarray(pred)
        y = np.asarray(y)
        if len(pred) != len(y):
            raise BadTaskOption(f"{len(pred)} predictions for {len(y)} targets")
        if self.kind == "classification":
            labels = pred.argmax(axis=-1) if pred.ndim > 1 else pred
            return float(np.mean(labels == y))
        return float(np.mean((pred.reshape(y.shape).astype(np.float64) - y) ** 2))

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A randomly perturbed copy of a training batch (identity unless the task defines one)."""
        return x

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


def split_rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), 7919])


