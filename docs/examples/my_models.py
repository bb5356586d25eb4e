"""Two user models for the README's quickstart: a GRU classifier and a Conv1d + BatchNorm net, both
over sequences of 20 features (batch, time, features)."""

import torch
from torch import nn


class GruClassifier(nn.Module):
    def __init__(self, features: int = 20, hidden: int = 64, classes: int = 5) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


class ConvNet(nn.Module):
    def __init__(self, features: int = 20, channels: int = 64, classes: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(features, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=4, dilation=2), nn.BatchNorm1d(channels), nn.ReLU(),
        )
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.transpose(1, 2)).mean(dim=2))


def gru() -> nn.Module:
    return GruClassifier().eval()


def conv() -> nn.Module:
    return ConvNet().eval()
