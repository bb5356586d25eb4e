"""The reference zoo: recurrent, convolutional and hybrid sequence models and a small image ResNet.

Each factory imports torch when called, so registering the zoo costs nothing. Sequence models map
x (batch, time, features) to y (batch, num_outputs) for any time >= 1.

Causal models (rnn, lstm, gru, tcn) share one streaming interface that the exporter wraps:
``forward_steps(x)`` gives the head's output at every step (batch, time, num_outputs), whose last
step equals ``forward(x)``; ``stream_states()`` lists the state tensors ``(name, dims)`` with
``"batch"`` symbolic; ``forward_stream(x, *states)`` returns ``(y_steps, *new_states)``, and feeding
a sequence chunk by chunk from zero states reproduces ``forward_steps`` on the whole sequence.
"""

from __future__ import annotations

from typing import Any

from ortkit.models._registry import register_model

# Parameter budgets per sequence task: every sequence model's preset is sized to within a few
# percent of its task's budget, so RNN and CNN are compared at (about) equal parameter count.
BUDGETS: dict[str, int] = {"seq-digits": 18_000, "adding": 12_000, "fashion-mnist": 18_000}
BUDGET_TOLERANCE = 0.15


def budget_match(name: str, task: str) -> tuple[int, int, float] | None:
    """(parameters, budget, relative difference) of model ``name``'s preset for sequence task
    ``task``; None when the model has no sequence preset for it."""
    from ortkit.models._registry import get_entry, get_spec

    entry = get_entry(name)
    if entry.input_kind != "sequence" or task not in entry.presets or task not in BUDGETS:
        return None
    params = get_spec(name, preset=task).parameters
    return params, BUDGETS[task], params / BUDGETS[task] - 1.0


def _torch() -> Any:
    import torch

    return torch


# --------------------------------------------------------------------------------------------
# Recurrent family


def _chrono_init(rnn: Any, kind: str, t_max: int) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018): gate biases drawn so that the state is
    carried for about 1 to ``t_max`` steps at the start of training. Long dependencies (the adding
    problem) are then learned in far fewer steps."""
    torch = _torch()
    with torch.no_grad():
        for name, bias in rnn.named_parameters():
            if not name.startswith("bias"):
                continue
            h = bias.shape[0] // (4 if kind == "lstm" else 3)
            bias.zero_()
            if not name.startswith("bias_hh"):
                continue  # the two bias vectors add up: set one of them
            chrono = torch.log(torch.empty(h).uniform_(1.0, max(2.0, t_max - 1.0)))
            if kind == "lstm":  # gates i, f, g, o: forget open, input closed
                bias[h:2 * h] = chrono
                bias[:h] = -chrono
            else:  # GRU gates r, z, n: h' = (1 - z) * n + z * h, so a large z keeps the state
                bias[h:2 * h] = chrono


def _recurrent_module(kind: str, *, input_size: int, num_outputs: int, hidden_size: int, num_layers: int,
                      dropout: float, bidirectional: bool = False, chrono: int = 0) -> Any:
    torch = _torch()
    nn = torch.nn

    class Recurrent(nn.Module):
        """A stacked nn.RNN/LSTM/GRU (batch_first) and a linear head on the last step."""

        def __init__(self) -> None:
            super().__init__()
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
            extra = {"nonlinearity": "tanh"} if kind == "rnn" else {}
            self.kind = kind
            self.bidirectional = bidirectional
            self.rnn = cls(input_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional, **extra)
            self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_outputs)
            if chrono and kind != "rnn":
                _chrono_init(self.rnn, kind, chrono)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, state = self.rnn(x)
            if self.bidirectional:
                h = state[0] if self.kind == "lstm" else state
                # Final forward state and final backward state (the one that read the whole sequence).
                return self.head(torch.cat([h[-2], h[-1]], dim=-1))
            return self.head(out[:, -1])

        # -- streaming interface (unidirectional only) ------------------------------------
        def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.head(out)

        def stream_states(self) -> list[tuple[str, tuple[int | str, ...]]]:
            dims: tuple[int | str, ...] = (num_layers, "batch", hidden_size)
            return [("h", dims), ("c", dims)] if kind == "lstm" else [("h", dims)]

        def forward_stream(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if kind == "lstm":
                out, (h, c) = self.rnn(x, (states[0], states[1]))
                return self.head(out), h, c
            out, h = self.rnn(x, states[0])
            return self.head(out), h

    return Recurrent()


_RNN_PRESETS = {
    "seq-digits": {"input_size": 1, "num_outputs": 10},
    "adding": {"input_size": 2, "num_outputs": 1},
    "fashion-mnist": {"input_size": 1, "num_outputs": 10},
}


# The claims tasks (models/_task_claims.py): each family at about the adding problem's budget.
_CLAIM_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "gru": {"copy-memory": {"input_size": 10, "num_outputs": 8, "hidden_size": 56, "chrono": 200},
            "local-motif": {"input_size": 4, "num_outputs": 2, "hidden_size": 60}},
    "tcn": {"copy-memory": {"input_size": 10, "num_outputs": 8, "channels": 16, "levels": 5, "kernel_size": 5},
            "local-motif": {"input_size": 4, "num_outputs": 2, "channels": 16, "levels": 5, "kernel_size": 5}},
    "crnn": {"copy-memory": {"input_size": 10, "num_outputs": 8, "channels": 26, "hidden_size": 36},
             "local-motif": {"input_size": 4, "num_outputs": 2, "channels": 28, "hidden_size": 38}},
}


def _with(common: dict[str, dict[str, Any]], **per_task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task: {**common[task], **per_task.get(task.replace("-", "_"), {})} for task in common}


@register_model(
    "rnn", family="rnn", causal=True, default_task="seq-digits",
    presets=_with(_RNN_PRESETS, seq_digits={"hidden_size": 128}, adding={"hidden_size": 108},
                  fashion_mnist={"hidden_size": 128}),
    recurrent_layers=lambda hp: hp["num_layers"],
    description="Elman RNN (tanh), stacked, linear head on the last step",
)
def rnn(*, input_size: int = 1, num_outputs: int = 10, hidden_size: int = 128, num_layers: int = 1,
        dropout: float = 0.0) -> Any:
    return _recurrent_module("rnn", input_size=input_size, num_outputs=num_outputs,
                             hidden_size=hidden_size, num_layers=num_layers, dropout=dropout)


@register_model(
    "lstm", family="rnn", causal=True, default_task="seq-digits",
    presets=_with(_RNN_PRESETS, seq_digits={"hidden_size": 64}, adding={"hidden_size": 53, "chrono": 200},
                  fashion_mnist={"hidden_size": 64}),
    recurrent_layers=lambda hp: hp["num_layers"],
    description="LSTM, stacked, linear head on the last step",
)
def lstm(*, input_size: int = 1, num_outputs: int = 10, hidden_size: int = 64, num_layers: int = 1,
         dropout: float = 0.0, chrono: int = 0) -> Any:
    return _recurrent_module("lstm", input_size=input_size, num_outputs=num_outputs,
                             hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, chrono=chrono)


@register_model(
    "gru", family="rnn", causal=True, default_task="seq-digits",
    presets=_with(_RNN_PRESETS, seq_digits={"hidden_size": 74}, adding={"hidden_size": 62, "chrono": 200},
                  fashion_mnist={"hidden_size": 74}) | _CLAIM_PRESETS["gru"],
    recurrent_layers=lambda hp: hp["num_layers"],
    description="GRU, stacked, linear head on the last step",
)
def gru(*, input_size: int = 1, num_outputs: int = 10, hidden_size: int = 74, num_layers: int = 1,
        dropout: float = 0.0, chrono: int = 0) -> Any:
    return _recurrent_module("gru", input_size=input_size, num_outputs=num_outputs,
                             hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, chrono=chrono)


@register_model(
    "bilstm", family="rnn", causal=False, default_task="seq-digits",
    presets=_with(_RNN_PRESETS, seq_digits={"hidden_size": 44}, adding={"hidden_size": 36},
                  fashion_mnist={"hidden_size": 44}),
    recurrent_layers=lambda hp: hp["num_layers"],
    description="bidirectional LSTM, head on both final states (not streamable)",
)
def bilstm(*, input_size: int = 1, num_outputs: int = 10, hidden_size: int = 44, num_layers: int = 1,
           dropout: float = 0.0) -> Any:
    return _recurrent_module("lstm", input_size=input_size, num_outputs=num_outputs,
                             hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
                             bidirectional=True)


# --------------------------------------------------------------------------------------------
# Convolutional family


def _tcn_module(*, input_size: int, num_outputs: int, channels: int, levels: int, kernel_size: int,
                dropout: float) -> Any:
    torch = _torch()
    nn = torch.nn
    functional = torch.nn.functional

    class CausalConv(nn.Module):
        """Conv1d that sees only the past: left padding of (k - 1) * dilation frames."""

        def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
            super().__init__()
            self.conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
            self.context = (kernel_size - 1) * dilation

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(functional.pad(x, (self.context, 0)))

        def stream(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            full = torch.cat([cache, x], dim=2)
            return self.conv(full), full[:, :, full.shape[2] - self.context:]

    class Block(nn.Module):
        """Residual block of Bai et al. (2018): two dilated causal convs, ReLU, dropout, and a
        1x1 conv on the skip path when the width changes (plain convs: no weight norm)."""

        def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
            super().__init__()
            self.conv1 = CausalConv(c_in, c_out, dilation)
            self.conv2 = CausalConv(c_out, c_out, dilation)
            self.dropout = nn.Dropout(dropout)
            self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.dropout(torch.relu(self.conv1(x)))
            y = self.dropout(torch.relu(self.conv2(y)))
            return torch.relu(y + self.skip(x))

        def stream(self, x: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor) -> tuple[torch.Tensor, ...]:
            y, c1 = self.conv1.stream(x, c1)
            y, c2 = self.conv2.stream(torch.relu(y), c2)
            return torch.relu(torch.relu(y) + self.skip(x)), c1, c2

    class TCN(nn.Module):
        """Temporal convolutional network: dilations 1, 2, 4, ..., linear head on the last step."""

        def __init__(self) -> None:
            super().__init__()
            widths = [input_size] + [channels] * levels
            self.blocks = nn.ModuleList(Block(widths[i], widths[i + 1], 2 ** i) for i in range(levels))
            self.head = nn.Linear(channels, num_outputs)
            self.receptive_field = 1 + 2 * (kernel_size - 1) * (2 ** levels - 1)

        def features(self, x: torch.Tensor) -> torch.Tensor:
            h = x.transpose(1, 2)
            for block in self.blocks:
                h = block(h)
            return h.transpose(1, 2)  # (batch, time, channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x)[:, -1])

        def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

        def stream_states(self) -> list[tuple[str, tuple[int | str, ...]]]:
            states: list[tuple[str, tuple[int | str, ...]]] = []
            for i, block in enumerate(self.blocks):
                states.append((f"cache{i}_1", ("batch", block.conv1.conv.in_channels, block.conv1.context)))
                states.append((f"cache{i}_2", ("batch", block.conv2.conv.in_channels, block.conv2.context)))
            return states

        def forward_stream(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
            h = x.transpose(1, 2)
            new: list[torch.Tensor] = []
            for i, block in enumerate(self.blocks):
                h, c1, c2 = block.stream(h, states[2 * i], states[2 * i + 1])
                new += [c1, c2]
            return (self.head(h.transpose(1, 2)), *new)

    return TCN()


@register_model(
    "tcn", family="cnn", causal=True, default_task="seq-digits",
    presets={
        "seq-digits": {"input_size": 1, "num_outputs": 10, "channels": 25, "levels": 4, "kernel_size": 4},
        "adding": {"input_size": 2, "num_outputs": 1, "channels": 16, "levels": 5, "kernel_size": 5},
        "fashion-mnist": {"input_size": 1, "num_outputs": 10, "channels": 16, "levels": 7, "kernel_size": 5},
        **_CLAIM_PRESETS["tcn"],
    },
    description="TCN (Bai et al. 2018): causal dilated residual conv blocks",
)
def tcn(*, input_size: int = 1, num_outputs: int = 10, channels: int = 25, levels: int = 4,
        kernel_size: int = 4, dropout: float = 0.0) -> Any:
    if kernel_size < 2:
        from ortkit.models._registry import BadOverride

        raise BadOverride(f"model 'tcn': kernel_size={kernel_size} is invalid, expected an integer >= 2")
    return _tcn_module(input_size=input_size, num_outputs=num_outputs, channels=channels, levels=levels,
                       kernel_size=kernel_size, dropout=dropout)


def _conv_stack(nn: Any, c_in: int, channels: int, layers: int, kernel_size: int, downsample: int) -> Any:
    """Conv-BN-ReLU layers; the first ``downsample`` of them have stride 2. Padding k // 2 keeps a
    length-1 input at length 1, so any time >= 1 works without extra padding."""
    mods: list[Any] = []
    for i in range(layers):
        stride = 2 if i < downsample else 1
        mods += [nn.Conv1d(c_in if i == 0 else channels, channels, kernel_size, stride=stride,
                           padding=kernel_size // 2),
                 nn.BatchNorm1d(channels), nn.ReLU()]
    return nn.Sequential(*mods)


@register_model(
    "cnn1d", family="cnn", causal=False, default_task="seq-digits",
    presets={
        "seq-digits": {"input_size": 1, "num_outputs": 10, "channels": 33, "layers": 4},
        "adding": {"input_size": 2, "num_outputs": 1, "channels": 28, "layers": 4},
        "fashion-mnist": {"input_size": 1, "num_outputs": 10, "channels": 33, "layers": 4},
    },
    description="1-D CNN, non-causal (centered kernels), strided, global average pooling",
)
def cnn1d(*, input_size: int = 1, num_outputs: int = 10, channels: int = 33, layers: int = 4,
          kernel_size: int = 5, downsample: int = 2) -> Any:
    torch = _torch()
    nn = torch.nn

    class CNN1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = _conv_stack(nn, input_size, channels, layers, kernel_size, min(downsample, layers))
            self.head = nn.Linear(2 * channels, num_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x.transpose(1, 2))
            # Mean and max over time: a global pooling that works for any length.
            return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))

    return CNN1d()


# --------------------------------------------------------------------------------------------
# Hybrid


@register_model(
    "crnn", family="hybrid", causal=False, default_task="seq-digits",
    presets={
        "seq-digits": {"input_size": 1, "num_outputs": 10, "channels": 32, "hidden_size": 48},
        "adding": {"input_size": 2, "num_outputs": 1, "channels": 28, "hidden_size": 38},
        "fashion-mnist": {"input_size": 1, "num_outputs": 10, "channels": 32, "hidden_size": 48},
        **_CLAIM_PRESETS["crnn"],
    },
    recurrent_layers=lambda hp: hp["num_layers"],
    description="conv front end (time downsampled 4x) then a GRU: the hybrid",
)
def crnn(*, input_size: int = 1, num_outputs: int = 10, channels: int = 32, conv_layers: int = 2,
         kernel_size: int = 5, hidden_size: int = 48, num_layers: int = 1) -> Any:
    torch = _torch()
    nn = torch.nn

    class CRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.front = _conv_stack(nn, input_size, channels, conv_layers, kernel_size, conv_layers)
            self.rnn = nn.GRU(channels, hidden_size, num_layers, batch_first=True)
            self.head = nn.Linear(hidden_size, num_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.front(x.transpose(1, 2)).transpose(1, 2)
            out, _ = self.rnn(h)
            return self.head(out[:, -1])

    return CRNN()


# --------------------------------------------------------------------------------------------
# Images


@register_model(
    "cnn2d", family="cnn", input_kind="image", causal=False, default_task="digits",
    presets={
        "digits": {"in_channels": 1, "image_size": 8, "num_outputs": 10, "widths": (16, 32)},
        "fashion-mnist": {"in_channels": 1, "image_size": 28, "num_outputs": 10, "widths": (16, 32, 64)},
    },
    description="small ResNet (basic blocks, one per stage), global average pooling",
)
def cnn2d(*, in_channels: int = 1, image_size: int = 8, num_outputs: int = 10,
          widths: tuple[int, ...] = (16, 32)) -> Any:
    torch = _torch()
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.skip = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU())
            blocks = []
            c = widths[0]
            for i, w in enumerate(widths):
                blocks.append(BasicBlock(c, w, 1 if i == 0 else 2))
                c = w
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Linear(c, num_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    return ResNet()
