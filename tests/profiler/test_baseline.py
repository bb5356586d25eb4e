"""The PyTorch baseline: the same zoo model at the same shapes, measured the same way."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ortkit.profiler import Budget, profile

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_eager_baseline_next_to_ort(tmp_path: Path, fast: Budget) -> None:
    from ortkit.exporter import export

    model = export("gru", tmp_path / "gru", overrides={"hidden_size": 16}).model_path
    summary = profile([model], ["cpu"], [2], [8], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast)
    ort_result, torch_result = summary.results
    assert ort_result.spec.runner == "ort" and torch_result.spec.runner == "torch-eager"
    assert torch_result.status == "ok", torch_result.message
    assert torch_result.spec.zoo_name == "gru" and dict(torch_result.spec.zoo_overrides)["hidden_size"] == 16
    assert torch_result.metrics.input_shapes == ort_result.metrics.input_shapes
    assert torch_result.metrics.active_providers == ("torch:cpu",)
    assert torch_result.stats is not None and torch_result.stats.p50 > 0
    assert torch_result.metrics.throughput_timesteps_s == pytest.approx(2 * 8 / (torch_result.stats.p50 / 1e3))


_USER_MODELS = '''
import torch


class Gru(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.GRU(20, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


class Conv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(20, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm1d(8)

    def forward(self, x):
        return self.bn(self.conv(x.transpose(1, 2))).mean(-1)


def gru():  # named like the zoo's GRU on purpose
    return Gru()


def conv():
    return Conv()
'''


@pytest.fixture
def user_exports(tmp_path: Path) -> dict[str, Path]:
    """A user GRU classifier named `gru` and a user Conv1d+BatchNorm net, exported by ortkit."""
    pytest.importorskip("torch")
    from ortkit.exporter import export

    (tmp_path / "mine.py").write_text(_USER_MODELS)
    return {name: Path(export(f"{tmp_path / 'mine.py'}:{name}", tmp_path / name, inputs=["x:float32:batch,time,20"]).model_path)
            for name in ("gru", "conv")}


def test_a_user_model_named_like_a_zoo_model_is_measured_as_itself(user_exports: dict[str, Path], tmp_path: Path, fast: Budget) -> None:
    summary = profile([user_exports["gru"]], ["cpu"], [1], [16], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast)
    ort_result, torch_result = summary.results
    assert torch_result.status == "ok", torch_result.message
    assert torch_result.spec.zoo_name is None and ort_result.spec.zoo_name is None
    assert torch_result.spec.baseline_source == f"{(tmp_path / 'mine.py').resolve()}:gru"
    # The zoo GRU takes (1, 16, 1); the user's own module takes what the export takes.
    assert torch_result.metrics.input_shapes == ort_result.metrics.input_shapes == (("x", (1, 16, 20)),)
    assert ort_result.spec.family == "rnn"


def test_no_pytorch_source_is_unavailable_with_the_reason(tmp_path: Path, fast: Budget) -> None:
    from tests.profiler.conftest import lstm_model

    model = lstm_model(tmp_path / "plain.onnx")  # no ortkit metadata: no source recorded
    summary = profile([model], ["cpu"], [1], [8], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast)
    torch_result = summary.results[-1]
    assert torch_result.status == "unavailable"
    assert "records no PyTorch source" in (torch_result.message or "") and "--baseline-source" in (torch_result.message or "")


def test_baseline_source_names_the_module_of_a_plain_file(tmp_path: Path, fast: Budget) -> None:
    pytest.importorskip("torch")
    from tests.profiler.conftest import lstm_model

    model = lstm_model(tmp_path / "plain.onnx", hidden=16, features=4)
    (tmp_path / "src.py").write_text("import torch\n\nclass M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                     "        self.lstm = torch.nn.LSTM(4, 16, batch_first=True)\n\n    def forward(self, x):\n"
                                     "        return self.lstm(x)[1][0][0]\n\ndef build():\n    return M()\n")
    summary = profile([model], ["cpu"], [1], [8], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast,
                      baseline_source=f"{tmp_path / 'src.py'}:build")
    torch_result = summary.results[-1]
    assert torch_result.status == "ok", torch_result.message
    assert torch_result.metrics.input_shapes == (("x", (1, 8, 4)),)
    with pytest.raises(Exception, match="one model"):
        profile([model, model], ["cpu"], [1], [8], [1], baseline=["torch"], db=tmp_path / "r.db", budget=fast,
                baseline_source=f"{tmp_path / 'src.py'}:build")


def test_user_rnn_and_cnn_give_the_crossover_comparison(user_exports: dict[str, Path], tmp_path: Path, fast: Budget) -> None:
    pytest.importorskip("matplotlib")
    from ortkit.report import report_database

    profile(list(user_exports.values()), ["cpu"], [1], [8, 32], [1], db=tmp_path / "r.db", budget=fast)
    text = report_database(tmp_path / "r.db", tmp_path / "report").markdown.read_text()
    assert "No pair of a CNN and an RNN" not in text
    assert "| conv | gru |" in text.replace("  ", " ")
