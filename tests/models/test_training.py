from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ortkit.base import OrtkitError, UsageError
from ortkit.models import evaluate, load_checkpoint, train
from ortkit.models._training import train_settings


def test_tiny_training_writes_a_checkpoint_that_reloads(tmp_path: Path) -> None:
    events = []
    result = train("gru", "seq-digits", epochs=2, overrides={"hidden_size": 12}, out=tmp_path / "ck",
                   callback=events.append)
    assert result.epochs == 2 and len(result.history) == 2
    assert 0.0 <= result.metric <= 1.0 and result.metric_name == "accuracy"
    assert events and events[-1].epoch == 2 and events[-1].fraction == pytest.approx(1.0)
    model, manifest = load_checkpoint(result.checkpoint)
    assert manifest.metric_value == pytest.approx(result.metric)
    assert manifest.overrides == {"preset": "seq-digits", "hidden_size": 12}
    assert manifest.task_options == {"permute": False, "seed": 0}
    assert manifest.epochs == 2 and manifest.steps == result.steps and manifest.seed == 0
    assert evaluate(model, result.task) == pytest.approx(result.metric)
    data = json.loads((result.checkpoint / "manifest.json").read_text())
    assert {"model", "overrides", "task", "task_options", "metric_name", "metric_value", "seed", "versions",
            "training_seconds", "schema_version"} <= set(data)


def test_same_seed_same_weights_other_seed_differs() -> None:
    kw = dict(epochs=1, overrides={"channels": 8, "levels": 2})
    a = train("tcn", "seq-digits", seed=3, **kw)
    b = train("tcn", "seq-digits", seed=3, **kw)
    c = train("tcn", "seq-digits", seed=4, **kw)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert a.metric == b.metric
    assert not torch.equal(a.model.head.weight, c.model.head.weight)


def test_training_learns_seq_digits() -> None:
    """A few epochs of the TCN preset beat chance (0.1) by far: the loop really trains."""
    result = train("tcn", "seq-digits", epochs=4)
    assert result.metric > 0.6
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_adding_regression_beats_nothing_but_is_finite() -> None:
    result = train("gru", "adding", epochs=1, task_options={"length": 20, "train_size": 256, "test_size": 64},
                   overrides={"hidden_size": 8})
    assert result.metric_name == "mse" and not result.higher_is_better
    assert np.isfinite(result.metric) and result.metric < 1.0


def test_time_budget_stops_training() -> None:
    result = train("lstm", "seq-digits", time_budget=0.5, overrides={"hidden_size": 8})
    assert result.epochs < 80  # far fewer than the preset's epochs


def test_image_model_on_digits() -> None:
    result = train("cnn2d", "digits", epochs=1, overrides={"widths": [8]})
    assert result.metric > 0.2


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"model": "cnn2d", "task": "seq-digits"}, OrtkitError, "takes image input"),
        ({"model": "lstm", "task": "digits"}, OrtkitError, "takes sequence input"),
        ({"model": "lstn", "task": "adding"}, OrtkitError, "did you mean lstm"),
        ({"model": "lstm", "task": "adding", "overrides": {"hiden": 2}}, OrtkitError, "valid keys"),
        ({"model": "lstm", "task": "adding", "settings": {"lr": -1.0}}, UsageError, "must be positive"),
        ({"model": "lstm", "task": "adding", "settings": {"rate": 1.0}}, UsageError, "valid: lr"),
        ({"model": "lstm", "task": "adding", "epochs": 0}, UsageError, "epochs=0"),
        ({"model": "lstm", "task": "adding", "task_options": {"lenght": 3}}, OrtkitError, "valid options"),
        ({"model": "lstm", "task": "seq-digits", "overrides": {"num_outputs": 5}}, OrtkitError, "needs 10"),
        ({"model": "lstm", "task": "seq-digits", "overrides": {"input_size": 3}}, OrtkitError, "leave input_size"),
    ],
)
def test_bad_requests_fail_before_training(kwargs: dict, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        train(**kwargs)
    assert fragment in str(info.value)


def test_train_settings_presets() -> None:
    assert train_settings("gru", "adding").lr > 0
    assert train_settings("gru", "adding", batch_size=8).batch_size == 8
    with pytest.raises(UsageError, match="integer"):
        train_settings("gru", "adding", batch_size=8.5)


def _write_idx(path: Path, array: np.ndarray) -> None:
    import struct

    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_trains_image_and_sequence_models(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (5064, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 5064))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (16, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 16))
    options = {"path": str(tmp_path)}
    image = train("cnn2d", "fashion-mnist", task_options=options, epochs=1, overrides={"widths": [4]})
    assert image.task.options["view"] == "image" and image.spec.inputs[0].dims == ("batch", 1, 28, 28)
    seq = train("gru", "fashion-mnist", task_options=options, epochs=1, overrides={"hidden_size": 4})
    assert seq.task.options["view"] == "sequence" and seq.task.load("test")[0].shape == (16, 784, 1)
    with pytest.raises(OrtkitError, match="takes image input"):
        train("cnn2d", "fashion-mnist", task_options={**options, "view": "sequence"}, epochs=1)
