from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from ortkit.models import BadTaskOption, DatasetMissing, UnknownTask, get_task, list_tasks
from ortkit.models._tasks import FASHION_MNIST_DIRS, FASHION_MNIST_ENV


def test_list_tasks() -> None:
    assert list_tasks() == ["adding", "copy-memory", "digits", "fashion-mnist", "local-motif", "seq-digits"]


def test_adding_problem_shapes_markers_and_baseline() -> None:
    task = get_task("adding", length=50, train_size=300, test_size=4000)
    x, y = task.load("test")
    assert x.shape == (4000, 50, 2) and y.shape == (4000, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :25].sum(axis=1) == 1)  # one marker in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    # Always predicting 1 scores about 2/12 (the variance of a sum of two uniforms).
    assert task.metric(np.ones_like(y), y) == pytest.approx(1 / 6, abs=0.012)
    assert (task.kind, task.metric_name, task.higher_is_better) == ("regression", "mse", False)
    assert (task.input_features, task.num_outputs, task.time_steps) == (2, 1, 50)


def test_adding_is_deterministic_and_splits_differ() -> None:
    a = get_task("adding", length=20, train_size=100)
    b = get_task("adding", length=20, train_size=100)
    np.testing.assert_array_equal(a.load("train")[0], b.load("train")[0])
    assert not np.array_equal(a.load("train")[0][:100], a.load("val")[0][:100])
    c = get_task("adding", length=20, train_size=100, seed=1)
    assert not np.array_equal(a.load("train")[0], c.load("train")[0])


def test_seq_digits_splits_are_disjoint_stratified_and_deterministic() -> None:
    task = get_task("seq-digits")
    sizes = {}
    rows = set()
    for split in ("train", "val", "test"):
        x, y = task.load(split)
        assert x.shape[1:] == (64, 1) and x.dtype == np.float32 and y.dtype == np.int64
        assert set(np.unique(y)) == set(range(10))
        sizes[split] = len(x)
        rows |= {r.tobytes() + bytes([split[0] == "t"]) for r in x}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == pytest.approx(0.2 * 1797, abs=10)
    x1, _ = task.load("test")
    x2, _ = get_task("seq-digits").load("test")
    np.testing.assert_array_equal(x1, x2)
    assert task.metric(np.eye(10)[task.load("test")[1]], task.load("test")[1]) == 1.0


def test_seq_digits_permute_and_digits_images_agree() -> None:
    plain_x, plain_y = get_task("seq-digits").load("val")
    perm_x, perm_y = get_task("seq-digits", permute=True).load("val")
    np.testing.assert_array_equal(plain_y, perm_y)
    assert not np.array_equal(plain_x, perm_x)
    np.testing.assert_array_equal(np.sort(plain_x, axis=1), np.sort(perm_x, axis=1))
    img_x, img_y = get_task("digits").load("val")
    assert img_x.shape[1:] == (1, 8, 8)
    np.testing.assert_array_equal(img_y, plain_y)
    np.testing.assert_allclose(img_x.reshape(len(img_x), 64, 1), plain_x)


def test_loaded_arrays_are_read_only() -> None:
    x, _ = get_task("seq-digits").load("train")
    with pytest.raises(ValueError):
        x[0, 0, 0] = 1.0


def test_unknown_task_and_bad_options() -> None:
    with pytest.raises(UnknownTask, match="did you mean seq-digits"):
        get_task("seq-digit")
    with pytest.raises(BadTaskOption, match="valid options: length, train_size"):
        get_task("adding", lenght=3)
    with pytest.raises(BadTaskOption, match="length=1"):
        get_task("adding", length=1)
    with pytest.raises(BadTaskOption, match="expected an integer"):
        get_task("adding", length="long")
    with pytest.raises(BadTaskOption, match="splits: train, val, test"):
        get_task("adding").load("dev")
    with pytest.raises(BadTaskOption, match="view"):
        get_task("fashion-mnist", view="video")


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def fake_fashion(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (5100, 28, 28)), True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 5100), True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)), False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 30), False)
    return tmp_path


def test_fashion_mnist_reads_idx_files_from_a_path(fake_fashion: Path) -> None:
    task = get_task("fashion-mnist", path=str(fake_fashion))
    x, y = task.load("train")
    assert x.shape == (100, 1, 28, 28) and y.shape == (100,)
    assert task.load("val")[0].shape == (5000, 1, 28, 28)
    assert task.load("test")[0].shape == (30, 1, 28, 28)
    seq = get_task("fashion-mnist", path=str(fake_fashion), view="sequence", train_limit=40)
    assert seq.load("train")[0].shape == (40, 784, 1)
    assert seq.time_steps == 784 and seq.input_kind == "sequence"


def test_fashion_mnist_env_var(fake_fashion: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(fake_fashion))
    assert get_task("fashion-mnist").load("test")[0].shape == (30, 1, 28, 28)


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing) as info:
        get_task("fashion-mnist", path=str(tmp_path)).load("train")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and str(tmp_path) in message
    assert "\n" not in message


def test_fashion_mnist_truncated_file_is_refused(fake_fashion: Path) -> None:
    path = fake_fashion / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetMissing, match="truncated or corrupt"):
        get_task("fashion-mnist", path=str(fake_fashion)).load("test")
    path.write_bytes(b"garbage!")
    with pytest.raises(DatasetMissing, match="not an IDX file"):
        get_task("fashion-mnist", path=str(fake_fashion)).load("test")


@pytest.mark.skipif(not any((Path(d) / "t10k-labels-idx1-ubyte.gz").exists() for d in FASHION_MNIST_DIRS),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package() -> None:
    task = get_task("fashion-mnist")
    x, y = task.load("test")
    assert x.shape == (10000, 1, 28, 28) and np.bincount(y).tolist() == [1000] * 10


def test_adding_refuses_a_split_too_large_for_memory() -> None:
    task = get_task("adding", length=10**7, train_size=1000)
    with pytest.raises(BadTaskOption, match=r"train_size=1000 x length=10000000 needs 74.5 GiB .* lower length or train_size"):
        task.load("train")


def test_copy_memory_answer_is_the_stored_symbol() -> None:
    task = get_task("copy-memory", length=12, test_size=300)
    x, y = task.load("test")
    assert x.shape == (300, 12, 10) and y.dtype == np.int64 and set(np.unique(y)) <= set(range(8))
    assert (x[:, 0, :8].argmax(-1) == y).all() and (x[:, 0, 8] == 1).all() and (x[:, -1, 9] == 1).all()
    assert (x[:, -1, :8] == 0).all() and (x[:, 1:-1, 8:] == 0).all()  # flags only where they belong
    assert task.metric(np.eye(8, dtype=np.float32)[y], y) == 1.0
    again, _ = get_task("copy-memory", length=12, test_size=300).load("test")
    assert np.array_equal(x, again)


def test_local_motif_label_says_whether_the_motif_occurs() -> None:
    x, y = get_task("local-motif", length=20, test_size=400).load("test")
    symbols = x.argmax(-1)
    found = np.array([any(tuple(row[i:i + 4]) == (0, 1, 2, 3) for i in range(17)) for row in symbols])
    assert np.array_equal(found, y.astype(bool)) and 0.35 < y.mean() < 0.65


@pytest.mark.parametrize(("name", "options", "message"), [
    ("copy-memory", {"length": 2}, "length=2 is invalid"),
    ("local-motif", {"length": 3}, "length=3 is invalid"),
    ("local-motif", {"train_size": 0}, "train_size=0 is invalid"),
])
def test_claims_tasks_reject_bad_options(name: str, options: dict[str, int], message: str) -> None:
    from ortkit.models import BadTaskOption

    with pytest.raises(BadTaskOption, match=message):
        get_task(name, **options)
