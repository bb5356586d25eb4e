"""Fashion-MNIST, read from the IDX files of Debian's `dataset-fashion-mnist` or a given folder."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ortkit.models._task_base import BadTaskOption, DatasetMissing, Task

FASHION_MNIST_ENV = "ORTKIT_FASHION_MNIST"
# Where Debian's `dataset-fashion-mnist` package puts the IDX files (checked in order).
FASHION_MNIST_DIRS = (
    "/usr/share/datasets/fashion-mnist",
    "/usr/share/dataset-fashion-mnist",
    "/usr/share/dataset-fashion-mnist/data/fashion",
    "/usr/share/fashion-mnist",
    "/usr/share/fashion-mnist/data/fashion",
)



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


