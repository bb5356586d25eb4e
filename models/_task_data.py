"""The generated tasks: the adding problem, and digits read as images or as pixel sequences."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortkit.models._task_base import SPLITS, BadTaskOption, Task, split_rng


class AddingTask(Task):
    """The adding problem (Hochreiter & Schmidhuber 1997; Bai et al. 2018): two features per step,
    a value in [0, 1) and a marker that is 1 at exactly two steps (one in each half); the target
    is the sum of the two marked values. Always predicting 1 scores an MSE of about 0.167."""

    name = "adding"
    kind = "regression"
    metric_name = "mse"
    higher_is_better = False
    defaults = {"length": 200, "train_size": 20000, "val_size": 1000, "test_size": 2000, "seed": 0}
    description = "sum of the two marked values in a length-T sequence (MSE)"

    @property
    def input_features(self) -> int:
        return 2

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def time_steps(self) -> int:
        return int(self.options["length"])

    def _check(self, key: str, value: Any, default: Any) -> Any:
        value = super()._check(key, value, default)
        if key == "length" and value < 2:
            raise BadTaskOption(f"task 'adding': length={value} is invalid, expected an integer >= 2")
        if key.endswith("_size") and value < 1:
            raise BadTaskOption(f"task 'adding': {key}={value} is invalid, expected an integer >= 1")
        return value

    # Largest split the task will build in memory (x holds 2 float32 values per step).
    MAX_SPLIT_BYTES = 2 * 2**30

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        n = int(self.options[f"{split}_size"])
        t = self.time_steps
        if n * t * 2 * 4 > self.MAX_SPLIT_BYTES:
            raise BadTaskOption(
                f"task 'adding': {split}_size={n} x length={t} needs {n * t * 8 / 2**30:.1f} GiB for the {split} split "
                f"(at most {self.MAX_SPLIT_BYTES / 2**30:.0f} GiB); lower length or {split}_size"
            )
        rng = split_rng(int(self.options["seed"]), split)
        values = rng.random((n, t), dtype=np.float32)
        half = t // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, t, size=n)
        markers = np.zeros((n, t), dtype=np.float32)
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        x = np.stack([values, markers], axis=-1)
        y = (values[rows, first] + values[rows, second]).reshape(n, 1)
        return x, y


def _shift_images(images: np.ndarray, rng: np.random.Generator, background: float) -> np.ndarray:
    """Shift each (H, W) image by -1, 0 or +1 pixel along each axis, filling with background."""
    n, h, w = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), constant_values=background)
    dy = rng.integers(0, 3, n)[:, None, None]
    dx = rng.integers(0, 3, n)[:, None, None]
    rows = np.arange(h)[None, :, None] + dy
    cols = np.arange(w)[None, None, :] + dx
    return padded[np.arange(n)[:, None, None], rows, cols]


def _digits_split(seed: int) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    data = load_digits()
    images = data.images.astype(np.float32) / 16.0
    labels = data.target.astype(np.int64)
    # Stratified 70/10/20 split, fixed by the seed.
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = round(0.1 * len(idx)), round(0.2 * len(idx))
        parts["val"].append(idx[:n_val])
        parts["test"].append(idx[n_val:n_val + n_test])
        parts["train"].append(idx[n_val + n_test:])
    out = {}
    for split, chunks in parts.items():
        idx = np.sort(np.concatenate(chunks))
        out[split] = idx
    out["images"] = images
    out["labels"] = labels
    return out


class SeqDigitsTask(Task):
    """scikit-learn's bundled 8x8 digits read pixel by pixel: 64 steps of one feature, 10 classes.
    ``permute=True`` applies one fixed random permutation to the pixel order (harder for RNNs)."""

    name = "seq-digits"
    kind = "classification"
    metric_name = "accuracy"
    higher_is_better = True
    defaults = {"permute": False, "seed": 0}
    description = "8x8 digits as 64-step pixel sequences, 10 classes (accuracy)"

    # Mean and std of the training pixels (seed 0); a fixed normalisation keeps the inputs of a
    # trained model independent of which split is loaded first.
    _MEAN, _STD = 0.305, 0.378

    @property
    def input_features(self) -> int:
        return 1

    @property
    def num_outputs(self) -> int:
        return 10

    @property
    def time_steps(self) -> int:
        return 64

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        parts = _digits_split(int(self.options["seed"]))
        idx = parts[split]
        x = (parts["images"][idx].reshape(len(idx), 64) - self._MEAN) / self._STD
        if self.options["permute"]:
            x = x[:, self._permutation()]
        return x[:, :, None], parts["labels"][idx]

    @staticmethod
    def _permutation() -> np.ndarray:
        return np.random.default_rng(12345).permutation(64)

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Shift the underlying 8x8 images by up to one pixel (the training set is small)."""
        flat = np.array(x[:, :, 0])
        if self.options["permute"]:
            inverse = np.argsort(self._permutation())
            flat = flat[:, inverse]
        shifted = _shift_images(flat.reshape(-1, 8, 8), rng, -self._MEAN / self._STD).reshape(-1, 64)
        if self.options["permute"]:
            shifted = shifted[:, self._permutation()]
        return shifted[:, :, None].astype(np.float32)


class DigitsTask(Task):
    """The same 8x8 digits as images (1 x 8 x 8) for 2-D CNNs, with the same splits."""

    name = "digits"
    kind = "classification"
    metric_name = "accuracy"
    higher_is_better = True
    input_kind = "image"
    defaults = {"seed": 0}
    description = "8x8 digits as 1x8x8 images, 10 classes (accuracy)"

    @property
    def input_features(self) -> int:
        return 1

    @property
    def num_outputs(self) -> int:
        return 10

    @property
    def image_size(self) -> int:
        return 8

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        parts = _digits_split(int(self.options["seed"]))
        idx = parts[split]
        x = (parts["images"][idx] - SeqDigitsTask._MEAN) / SeqDigitsTask._STD
        return x[:, None, :, :], parts["labels"][idx]

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Shift each image by up to one pixel."""
        background = -SeqDigitsTask._MEAN / SeqDigitsTask._STD
        return _shift_images(np.array(x[:, 0]), rng, background)[:, None].astype(np.float32)


