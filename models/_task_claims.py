"""Two generated tasks built to test the classic claims: one that only memory solves (copy-memory)
and one that only local patterns decide (local-motif)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortkit.models._task_base import BadTaskOption, Task, split_rng

__all__ = ["CopyMemoryTask", "LocalMotifTask"]


class _Generated(Task):
    kind = "classification"
    metric_name = "accuracy"
    higher_is_better = True
    # Largest split built in memory (float32 one-hot steps).
    MAX_SPLIT_BYTES = 2 * 2**30

    @property
    def time_steps(self) -> int:
        return int(self.options["length"])

    def _check(self, key: str, value: Any, default: Any) -> Any:
        value = super()._check(key, value, default)
        if key == "length" and value < self.MIN_LENGTH:
            raise BadTaskOption(f"task {self.name!r}: length={value} is invalid, expected an integer >= {self.MIN_LENGTH}")
        if key.endswith("_size") and value < 1:
            raise BadTaskOption(f"task {self.name!r}: {key}={value} is invalid, expected an integer >= 1")
        return value

    def _size(self, split: str) -> int:
        n = int(self.options[f"{split}_size"])
        if n * self.time_steps * self.input_features * 4 > self.MAX_SPLIT_BYTES:
            raise BadTaskOption(f"task {self.name!r}: {split}_size={n} x length={self.time_steps} is too large; lower one of them")
        return n

    MIN_LENGTH = 2


class CopyMemoryTask(_Generated):
    """Remember the symbol shown at the first step (marked by a "store" flag) through ``length``
    steps of random distractor symbols, and name it when the "recall" flag appears at the last
    step. Only a model whose memory reaches back ``length`` steps scores above chance (1/8)."""

    name = "copy-memory"
    SYMBOLS = 8
    defaults = {"length": 100, "train_size": 10000, "val_size": 1000, "test_size": 2000, "seed": 0}
    description = "name the symbol stored at step 0 after T steps of distractors (accuracy; chance 1/8)"
    MIN_LENGTH = 3

    @property
    def input_features(self) -> int:
        return self.SYMBOLS + 2  # symbols one-hot, "store" flag, "recall" flag

    @property
    def num_outputs(self) -> int:
        return self.SYMBOLS

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        n, t, k = self._size(split), self.time_steps, self.SYMBOLS
        rng = split_rng(int(self.options["seed"]), split)
        symbols = rng.integers(0, k, size=(n, t))
        x = np.zeros((n, t, k + 2), dtype=np.float32)
        rows = np.arange(n)[:, None]
        x[rows, np.arange(t)[None, :], symbols] = 1.0
        x[:, -1, :k] = 0.0  # the recall step shows no symbol
        x[:, 0, k] = 1.0
        x[:, -1, k + 1] = 1.0
        return x, symbols[:, 0].astype(np.int64)


class LocalMotifTask(_Generated):
    """Does the four-step motif 0, 1, 2, 3 occur anywhere in a random sequence of four symbols?
    Half the sequences carry it once at a random place, the other half never: a local pattern
    decides, wherever it is."""

    name = "local-motif"
    SYMBOLS = 4
    MOTIF = (0, 1, 2, 3)
    defaults = {"length": 64, "train_size": 10000, "val_size": 1000, "test_size": 2000, "seed": 0}
    description = "whether the motif 0,1,2,3 occurs in a length-T symbol sequence (accuracy; chance 1/2)"
    MIN_LENGTH = 4

    @property
    def input_features(self) -> int:
        return self.SYMBOLS

    @property
    def num_outputs(self) -> int:
        return 2

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        n, t, k = self._size(split), self.time_steps, self.SYMBOLS
        rng = split_rng(int(self.options["seed"]), split)
        symbols = rng.integers(0, k, size=(n, t))
        motif = np.asarray(self.MOTIF)
        m = len(motif)
        # scrub every chance occurrence (breaking its last symbol can create none: 3 never starts the motif)
        for start in range(t - m + 1):
            hit = np.all(symbols[:, start:start + m] == motif, axis=1)
            symbols[hit, start + m - 1] = 0
        labels = rng.integers(0, 2, size=n)
        where = rng.integers(0, t - m + 1, size=n)
        for i in np.flatnonzero(labels):
            symbols[i, where[i]:where[i] + m] = motif
        x = np.zeros((n, t, k), dtype=np.float32)
        x[np.arange(n)[:, None], np.arange(t)[None, :], symbols] = 1.0
        return x, labels.astype(np.int64)
