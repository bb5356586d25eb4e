"""Fixtures for exporter tests: small zoo configurations and user-model files written per test."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

# Small sizes keep each export well under a second; the structure (layers, dilations, strides)
# is the zoo's own.
SMALL: dict[str, dict[str, Any]] = {
    "hidden_size": 12,
    "channels": 8,
    "levels": 2,
    "kernel_size": 3,
    "widths": (8, 16),
}


def small_overrides(name: str, **extra: Any) -> dict[str, Any]:
    from ortkit.models import get_spec

    keys = get_spec(name).hparams()
    return {**{k: v for k, v in SMALL.items() if k in keys}, **extra}


@pytest.fixture
def user_models(tmp_path: Path) -> Path:
    """A user's model file with a few factories (and what goes wrong with them)."""
    path = tmp_path / "user_models.py"
    path.write_text(textwrap.dedent('''
        import torch

        class SeqLSTM(torch.nn.Module):
            """Returns the head at every step: (batch, time, 3)."""
            def __init__(self):
                super().__init__()
                self.rnn = torch.nn.LSTM(4, 8, 2, batch_first=True)
                self.head = torch.nn.Linear(8, 3)
            def forward(self, x):
                y, _ = self.rnn(x)
                return self.head(y)

        class LengthBranch(torch.nn.Module):
            """Python control flow on the length: a tracer bakes in the example's branch."""
            def __init__(self):
                super().__init__()
                self.head = torch.nn.Linear(4, 2)
            def forward(self, x):
                scale = 2.0 if x.shape[1] > 20 else 1.0
                return self.head(x.mean(1)) * scale

        @torch.library.custom_op("ortkit_test::mystery", mutates_args=())
        def mystery(x: torch.Tensor) -> torch.Tensor:
            return x.sin()

        @mystery.register_fake
        def _(x):
            return torch.empty_like(x)

        class Mystery(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.head = torch.nn.Linear(4, 2)
            def forward(self, x):
                return self.head(mystery(x).mean(1))

        class Spectral(torch.nn.Module):
            """rfft: the TorchScript exporter has no rule for it, dynamo does."""
            def __init__(self):
                super().__init__()
                self.head = torch.nn.Linear(4, 3)
            def forward(self, x):
                return self.head(torch.fft.rfft(x, dim=1).abs().mean(1))

        def seq_lstm():
            torch.manual_seed(0)
            return SeqLSTM()

        def length_branch():
            return LengthBranch()

        def mystery_model():
            return Mystery()

        def spectral():
            return Spectral()
    '''))
    return path
