"""The one reader and writer of the ``ortkit.*`` metadata, and the one random-feed generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ortkit.base import UsageError
from ortkit.runtime import METADATA_KEYS, StateSpec, metadata_props, random_array, random_feeds, read_metadata


class _Spec:
    def __init__(self) -> None:
        self.text = json.dumps({"family": "rnn", "hyperparameters": {"hidden": 32}, "inputs": [{"name": "x", "dims": ["batch", "time", 4]}]})


def test_what_the_writer_writes_the_reader_reads() -> None:
    state = StateSpec("h", "h_in", "h_out", (1, "batch", 8), "float32")
    props = metadata_props(model="lstm", family="rnn", task="sine", precision="fp16", spec_json=_Spec().text,
                           export={"opset": 17}, states=(state,), receptive_field=None)
    assert set(props) <= set(METADATA_KEYS.values())
    meta = read_metadata(props)
    assert (meta.model, meta.family, meta.task, meta.precision) == ("lstm", "rnn", "sine", "fp16")
    assert meta.hyperparameters == (("hidden", 32),) and meta.input_dims == {"x": ["batch", "time", 4]}
    assert meta.export == {"opset": 17} and meta.streaming and meta.states == (state,) and meta.receptive_field is None
    assert meta.problems == ()


@pytest.mark.parametrize("key, value", [
    (METADATA_KEYS["spec"], "{not json"), (METADATA_KEYS["spec"], "[1, 2]"), (METADATA_KEYS["export"], "7"),
    (METADATA_KEYS["streaming_states"], '[{"name": "h"}]'), (METADATA_KEYS["streaming_states"], "nonsense"),
])
def test_a_damaged_value_is_listed_never_a_crash(key: str, value: str) -> None:
    props = {METADATA_KEYS["model"]: "lstm", key: value}
    if key == METADATA_KEYS["streaming_states"]:
        props[METADATA_KEYS["streaming"]] = "1"
    meta = read_metadata(props)
    assert meta.model == "lstm" and meta.precision == "fp32"
    assert len(meta.problems) == 1 and key in meta.problems[0]
    assert meta.hyperparameters == () and meta.input_dims == {}


def test_random_feeds_are_one_generator_in_input_order() -> None:
    inputs = [("x", "float32", (2, 3)), ("ids", "int64", (2, 3)), ("mask", "bool", (2,)), ("h", "float32", (1, 2))]
    a = random_feeds(inputs, seed=5)
    b = random_feeds(inputs, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["x"].dtype == np.float32 and a["x"].flags.c_contiguous
    assert a["ids"].min() >= 0 and a["ids"].max() < 10 and a["mask"].dtype == bool
    rng = np.random.default_rng(5)
    assert np.array_equal(random_array(rng, "float32", (2, 3)), a["x"])  # same draws, same order
    zeros = random_feeds(inputs, seed=5, zero={"h"}, int_high=None)
    assert not zeros["h"].any() and not zeros["ids"].any() and np.array_equal(zeros["x"], a["x"])
    with pytest.raises(UsageError, match="give it as a .npy file"):
        random_feeds([("s", np.dtype("U4"), (1,))])
