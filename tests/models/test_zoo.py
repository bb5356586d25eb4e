"""Registry-driven tests: every zoo model, parametrized from list_models()."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ortkit.models import BadOverride, ModelSpec, UnknownModel, create_model, get_spec, list_models, register_model
from ortkit.models._registry import get_entry
from ortkit.models._zoo import BUDGET_TOLERANCE, BUDGETS, budget_match

MODELS = list_models()
SEQUENCE = [m for m in MODELS if get_entry(m).input_kind == "sequence"]
CAUSAL = [m for m in MODELS if get_entry(m).causal]


def _input(spec: ModelSpec, batch: int, time: int) -> torch.Tensor:
    return torch.randn(*spec.inputs[0].shape(batch=batch, time=time))


def test_zoo_has_the_reference_models() -> None:
    assert set(MODELS) >= {"rnn", "lstm", "gru", "bilstm", "tcn", "cnn1d", "cnn2d", "crnn"}
    families = {m: get_spec(m).family for m in MODELS}
    assert families["crnn"] == "hybrid" and families["tcn"] == "cnn" and families["gru"] == "rnn"


def test_list_models_pattern() -> None:
    assert list_models("*lstm") == ["bilstm", "lstm"]
    assert list_models("cnn*") == ["cnn1d", "cnn2d"]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", MODELS)
def test_forward_matches_spec_at_several_shapes(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    spec = model.ortkit_spec
    times = [1, 2, 7, 64] if name in SEQUENCE else [1]
    for batch in (1, 3):
        for time in times:
            with torch.no_grad():
                y = model(_input(spec, batch, time))
            assert tuple(y.shape) == spec.outputs[0].shape(batch=batch, time=time), (batch, time)
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_spec_parameters_and_recurrent_layers_match_the_module(name: str) -> None:
    model = create_model(name)
    spec = get_spec(name)
    assert spec == model.ortkit_spec
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    rnn_layers = sum(m.num_layers for m in model.modules() if isinstance(m, torch.nn.RNNBase))
    assert spec.recurrent_layers == rnn_layers
    assert spec.causal == (name in {"rnn", "lstm", "gru", "tcn"})
    assert spec.task_kind == "classification"
    assert spec.outputs[0].name == "y" and spec.inputs[0].name == "x"
    if name in SEQUENCE:
        assert spec.inputs[0].dims[:2] == ("batch", "time")
        assert spec.inputs[0].dynamic_axes == {0: "batch", 1: "time"}


@pytest.mark.parametrize("name", MODELS)
def test_spec_round_trips_through_hparams_and_json(name: str) -> None:
    spec = get_spec(name)
    assert get_spec(name, **spec.hparams()) == spec
    assert ModelSpec.from_dict(json.loads(spec.to_json())) == spec
    hash(spec)


def test_depth_and_width_by_override() -> None:
    model = create_model("lstm", hidden_size=64, num_layers=3)
    assert model.rnn.num_layers == 3 and model.rnn.hidden_size == 64
    spec = model.ortkit_spec
    assert spec.recurrent_layers == 3
    assert spec.hparams()["hidden_size"] == 64
    assert get_spec("lstm", num_layers=3).parameters > get_spec("lstm").parameters
    assert create_model("bilstm", num_layers=2).ortkit_spec.recurrent_layers == 2
    assert get_spec("tcn", levels=6).parameters > get_spec("tcn").parameters
    assert get_spec("cnn2d", widths=[8, 16]).parameters < get_spec("cnn2d").parameters


def test_task_presets_change_input_and_output_sizes() -> None:
    spec = get_spec("gru", preset="adding")
    assert spec.inputs[0].dims == ("batch", "time", 2)
    assert spec.outputs[0].dims == ("batch", 1)
    assert spec.task_kind == "regression"
    assert get_spec("cnn2d", preset="fashion-mnist").inputs[0].dims == ("batch", 1, 28, 28)


@pytest.mark.parametrize("task", sorted(BUDGETS))
def test_sequence_presets_are_matched_on_parameter_budget(task: str) -> None:
    counts = {}
    for name in SEQUENCE:
        match = budget_match(name, task)
        assert match is not None, f"{name} has no preset for {task}"
        params, budget, diff = match
        assert abs(diff) <= BUDGET_TOLERANCE, (name, params, budget)
        counts[name] = params
    # RNNs and CNNs within 15% of each other, not only of the budget.
    assert max(counts.values()) / min(counts.values()) <= 1 + BUDGET_TOLERANCE, counts


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_models_stream_chunk_by_chunk(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 23, model.ortkit_spec.inputs[0].dims[-1])
    with torch.no_grad():
        steps = model.forward_steps(x)
        assert torch.allclose(steps[:, -1], model(x), atol=1e-5)
        # The future does not change the past.
        x2 = x.clone()
        x2[:, 15:] += 1.0
        assert torch.allclose(model.forward_steps(x2)[:, :15], steps[:, :15], atol=1e-5)
        states = [torch.zeros(*(2 if d == "batch" else d for d in dims)) for _, dims in model.stream_states()]
        outs = []
        for a, b in [(0, 1), (1, 6), (6, 23)]:
            y, *states = model.forward_stream(x[:, a:b], *states)
            outs.append(y)
    assert torch.allclose(torch.cat(outs, dim=1), steps, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn1d", "crnn", "bilstm"])
def test_non_causal_models_see_the_future(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(1, 16, 1)
    x2 = x.clone()
    x2[:, 0] += 3.0  # the first step, which a last-step output of a causal model would also see
    x3 = x.clone()
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x2))
        assert torch.allclose(model(x), model(x3))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", SEQUENCE)
def test_exports_with_a_dynamic_time_axis(name: str, tmp_path) -> None:
    """The zoo's side of the exporter contract: the TorchScript exporter gives a model that
    onnxruntime runs at other batch sizes and lengths, including time=1."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model = create_model(name).eval()
    spec = model.ortkit_spec
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (_input(spec, 2, 16),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": spec.inputs[0].dynamic_axes, "y": spec.outputs[0].dynamic_axes},
                      dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, time in [(1, 1), (3, 5), (2, 16), (1, 100)]:
        x = _input(spec, batch, time)
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_unknown_model_suggests_close_matches() -> None:
    with pytest.raises(UnknownModel, match="did you mean lstm"):
        create_model("lstn")
    with pytest.raises(UnknownModel, match="the zoo has"):
        get_spec("transformer")


def test_bad_override_lists_valid_keys() -> None:
    with pytest.raises(BadOverride, match="valid keys: preset, input_size, num_outputs, hidden_size, num_layers"):
        create_model("lstm", hiden_size=3)
    with pytest.raises(BadOverride, match="did you mean hidden_size"):
        get_spec("gru", hiden_size=3)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [({"hidden_size": 0}, ">= 1"), ({"hidden_size": "64"}, "an integer"), ({"hidden_size": 2.5}, "an integer"),
     ({"dropout": 1.5}, "[0, 1)"), ({"num_layers": True}, "an integer"), ({"preset": "imagenet"}, "no preset")],
)
def test_bad_override_values_are_refused(overrides: dict, fragment: str) -> None:
    with pytest.raises(BadOverride) as info:
        create_model("lstm", **overrides)
    assert fragment in str(info.value)


def test_register_model_refuses_duplicates_and_bad_families() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("lstm", family="rnn", causal=True, default_task="x", presets={"x": {}})(lambda: None)
    with pytest.raises(ValueError, match="family"):
        register_model("new", family="transformer", causal=True, default_task="x", presets={"x": {}})


def test_importing_the_zoo_does_not_import_torch() -> None:
    code = ("import sys, ortkit.models as m\n"
            "m.list_models(); m.get_task('adding'); m.list_tasks()\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize(
    ("name", "overrides", "fragment"),
    [
        ("lstm", {"num_layers": 10**6}, "num_layers=1000000 is invalid, expected an integer <= 32"),
        ("tcn", {"levels": 64}, "levels=64 is invalid, expected an integer <= 32"),
        ("gru", {"hidden_size": 10**12}, "expected an integer <= 1048576"),
        ("cnn2d", {"widths": [8] * 100}, "at most 32 integers"),
        ("lstm", {"hidden_size": 100_000, "num_layers": 4}, "parameters (at most 1,000,000,000); choose smaller sizes"),
    ],
)
def test_sizes_that_would_exhaust_memory_are_refused_before_allocating(name: str, overrides: dict, fragment: str) -> None:
    with pytest.raises(BadOverride) as caught:
        create_model(name, **overrides)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_huge_override_value_is_not_echoed_whole() -> None:
    with pytest.raises(BadOverride) as caught:
        create_model("lstm", hidden_size="x" * 100_000)
    assert len(str(caught.value)) < 200
