"""Tasks: deterministic data splits and the metric each is scored with.

Every task returns numpy arrays, so the exporter (calibration, accuracy after quantization) and the
profiler can use them without torch. Splits are fixed by the task's ``seed`` option: the same
options always give the same arrays.
"""

from __future__ import annotations

import difflib
import gzip
import os
import struct
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ortkit.base import OrtkitError

__all__ = [
    "Task",
    "AddingTask",
    "SeqDigitsTask",
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

SPLITS = ("train", "val", "test")
FASHION_MNIST_ENV = "ORTKIT_FASHION_MNIST"
# Where Debian's `dataset-fashion-mnist` package puts the IDX files (checked in order).
FASHION_MNIST_DIRS = (
    "/usr/share/datasets/fashion-mnist",
    "/usr/share/dataset-fashion-mnist",
    "/usr/share/dataset-fashion-mnist/data/fashion",
    "/usr/share/fashion-mnist",
    "/usr/share/fashion-mnist/data/fashion",
)


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


def _split_rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), 7919])


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
        rng = _split_rng(int(self.options["seed"]), split)
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


_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking its header against its size."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as error:
        raise DatasetMissing(f"cannot read {path}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetMissing(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetMissing(f"{path} is truncated (header)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise DatasetMissing(f"{path} is truncated or corrupt: header says {count} bytes, file has {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


class FashionMnistTask(Task):
    """Fashion-MNIST (Xiao et al. 2017) from IDX files: 28x28 images (``view="image"``) or 784-step
    pixel sequences (``view="sequence"``). Files are found at ``path``, the environment variable
    ORTKIT_FASHION_MNIST, or where Debian's ``dataset-fashion-mnist`` package installs them.
    ``train_limit`` caps the training images (0: all 55000) for quick CPU runs."""

    name = "fashion-mnist"
    kind = "classification"
    metric_name = "accuracy"
    higher_is_better = True
    defaults = {"view": "image", "path": None, "train_limit": 0, "seed": 0}
    description = "Fashion-MNIST 28x28 images or 784-step sequences, 10 classes (accuracy)"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["view"] not in {"image", "sequence"}:
            raise BadTaskOption(f"task 'fashion-mnist': view={self.options['view']!r} is invalid, expected image or sequence")
        # The instance attribute shadows the class default used by the registry.
        self.input_kind = self.options["view"]  # type: ignore[misc]

    @property
    def input_features(self) -> int:
        return 1

    @property
    def num_outputs(self) -> int:
        return 10

    @property
    def image_size(self) -> int:
        return 28

    @property
    def time_steps(self) -> int | None:
        return 784 if self.options["view"] == "sequence" else None

    def data_dir(self) -> Path:
        """The folder holding the IDX files. Raises DatasetMissing saying how to get them."""
        candidates: list[tuple[str, Path]] = []
        if self.options["path"]:
            candidates.append(("path option", Path(self.options["path"]).expanduser()))
        elif os.environ.get(FASHION_MNIST_ENV):
            candidates.append((FASHION_MNIST_ENV, Path(os.environ[FASHION_MNIST_ENV]).expanduser()))
        else:
            candidates.extend(("Debian package", Path(d)) for d in FASHION_MNIST_DIRS)
        for _, folder in candidates:
            if all(self._find(folder, f) is not None for pair in _FASHION_FILES.values() for f in pair):
                return folder
        where = ", ".join(str(p) for _, p in candidates)
        raise DatasetMissing(
            f"Fashion-MNIST IDX files not found in {where}: install them with "
            f"`apt-get install dataset-fashion-mnist`, or pass path=DIR (or set {FASHION_MNIST_ENV}) "
            "to a folder holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]"
        )

    @staticmethod
    def _find(folder: Path, stem: str) -> Path | None:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
        return None

    def _make(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self.data_dir()
        source = "test" if split == "test" else "train"
        image_file, label_file = (self._find(folder, f) for f in _FASHION_FILES[source])
        assert image_file is not None and label_file is not None  # data_dir checked them
        images = _read_idx(image_file)
        labels = _read_idx(label_file).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetMissing(f"{image_file} and {label_file} do not hold matching images and labels")
        if source == "train":
            # The last 5000 training images (after a fixed shuffle) are the validation split.
            order = np.random.default_rng(int(self.options["seed"])).permutation(len(images))
            idx = order[-5000:] if split == "val" else order[:-5000]
            if split == "train" and self.options["train_limit"]:
                idx = idx[: int(self.options["train_limit"])]
            idx = np.sort(idx)
            images, labels = images[idx], labels[idx]
        x = (images.astype(np.float32) / 255.0 - 0.286) / 0.353
        if self.options["view"] == "sequence":
            return x.reshape(len(x), -1, 1), labels
        return x[:, None, :, :], labels


_TASKS: dict[str, type[Task]] = {
    t.name: t for t in (AddingTask, SeqDigitsTask, DigitsTask, FashionMnistTask)
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
