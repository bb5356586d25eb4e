"""Fuzz cases for the files ortkit reads besides models: sweep files and results databases.

The oracle is the same as for models: a call returns, or raises an `OrtkitError` with one line.
For a results database it is stronger: every result read back is a valid result (its samples are
finite and non-negative, its statistics exist exactly when it is ok), never a number made up from
damaged bytes; `check_store` and `recover_store` never raise anything but an OrtkitError either.
"""

from __future__ import annotations

import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ortkit.base import OrtkitError
from ortkit.profiler import Budget, Metrics, ProfileSpec, Result, ResultStore, check_store, collect_environment, recover_store
from ortkit.study import load_sweep

_FOLDER = Path(tempfile.mkdtemp(prefix="ortkit-fuzz-files-"))

SEED_SWEEP = """\
name = "fuzz"
db = "fuzz.db"

[[models]]
zoo = "lstm"
overrides = { hidden_size = 32 }

[[models]]
zoo = "tcn"
name = "tcn-small"

[[targets]]
ep = "cpu"

[grid]
batch = [1, 8]
time = [16, 64]
threads = [1, "default"]
precision = ["fp32", "int8"]
chunk = [1, 16]
concurrency = [1, 2]
baseline = ["torch"]

[measure]
max_time_s = 0.5
min_runs = 5
max_runs = 100
processes = 1
timeout_s = 300
"""

_KEYS = ["name", "db", "models", "targets", "grid", "measure", "zoo", "onnx", "checkpoint", "overrides", "ep", "python",
         "target", "batch", "time", "threads", "precision", "chunk", "concurrency", "baseline", "baseline_time",
         "max_time_s", "min_runs", "max_runs", "processes", "timeout_s", "warmup_runs", "hidden_size", "report"]
_SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 1, 2, 2**31 - 1, 2**31, 10**9, 100000]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=12),
    st.sampled_from(["default", "lstm", "tcn", "cpu", "fp32", "int8", "torch", "cuda", "../x.onnx", "\x00", "\udcff"]),
)


def _toml_values() -> st.SearchStrategy[Any]:
    return st.recursive(_SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)), max_leaves=12)


@st.composite
def sweep_case(draw: st.DrawFn) -> tuple[str, Any]:
    """("text", bytes) a byte-mutated seed file, or ("data", dict) the parsed seed with edits."""
    if draw(st.booleans()):
        data = bytearray(SEED_SWEEP.encode())
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data) - 1))
            kind = draw(st.sampled_from(["flip", "set", "delete", "insert"]))
            if kind == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "set":
                data[at] = draw(st.integers(0, 255))
            elif kind == "delete":
                del data[at: at + draw(st.integers(1, 16))]
            else:
                data[at:at] = draw(st.sampled_from([b"[", b"]", b"=", b'"', b"\n", b"[[models]]\n", b"\xff", b"0" * 30]))
            if not data:
                break
        return "text", bytes(data)
    data = tomllib.loads(SEED_SWEEP)
    for _ in range(draw(st.integers(1, 4))):
        # An earlier edit may have replaced a section by a value of another type.
        sections = [data, *(v for v in (data.get("grid"), data.get("measure")) if isinstance(v, dict)),
                    *(v[0] for v in (data.get("models"), data.get("targets")) if isinstance(v, list) and v and isinstance(v[0], dict))]
        section = draw(st.sampled_from(sections))
        key = draw(st.sampled_from(_KEYS))
        if draw(st.integers(0, 3)) == 0 and key in section:
            del section[key]
        else:
            section[key] = draw(_toml_values())
    return "data", data


def try_sweep(case: tuple[str, Any]) -> str:
    kind, payload = case
    path = _FOLDER / "sweep.toml"
    try:
        if kind == "text":
            path.write_bytes(payload)
            load_sweep(path)
        else:
            from ortkit.study import parse_sweep

            parse_sweep(payload, path)
    except OrtkitError as error:
        return f"clean {type(error).__name__}"
    return "parsed"


# ----------------------------------------------------------------- results databases
def _seed_store() -> bytes:
    path = _FOLDER / "seed.db"
    path.unlink(missing_ok=True)
    env = collect_environment(with_gpus=False)
    with ResultStore(path) as store:
        for batch in range(1, 13):
            spec = ProfileSpec(model="/m/lstm.onnx", model_sha256="ab" * 32, model_label="lstm", batch=batch, time=16, threads=1)
            if batch % 4 == 0:
                store.add(Result(spec=spec, environment=env, status="failed", message="worker crashed with SIGSEGV",
                                 metrics=Metrics(exit_code=-11, signal="SIGSEGV")))
            else:
                store.add(Result(spec=spec, environment=env, status="ok", samples_ms=tuple(1.0 + i / 10 for i in range(20)),
                                 metrics=Metrics(session_create_ms=3.0, throughput_samples_s=900.0), budget=Budget(max_time_s=0.1)))
        store.put_accuracy("ab" * 32, {"metric": 0.9, "metric_name": "accuracy"})
    return path.read_bytes()


SEED_STORE: bytes = b""


@st.composite
def store_case(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A byte-mutated results database, and whether to also salvage it with `recover_store`."""
    global SEED_STORE
    if not SEED_STORE:
        SEED_STORE = _seed_store()
    data = bytearray(SEED_STORE)
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["flip", "set", "run", "truncate", "zero_page"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0, 0xFF, 0x80, 0xC0, ord('"'), ord("{"), draw(st.integers(0, 255))]))
        elif kind == "run":
            data[at: at + 8] = draw(st.binary(min_size=8, max_size=8))
        elif kind == "truncate" and draw(st.integers(0, 3)) == 0:
            del data[max(at, 100):]
        elif kind == "zero_page":
            page = at // 4096 * 4096
            data[page: page + 4096] = bytes(min(4096, len(data) - page))
    return bytes(data), draw(st.integers(0, 4)) == 0


def try_store(case: tuple[bytes, bool]) -> str:
    data, recover = case
    path = _FOLDER / "case.db"
    path.write_bytes(data)
    for leftover in (_FOLDER / "case.recovered.db",):
        leftover.unlink(missing_ok=True)
    try:
        check_store(path)
        if recover:
            recover_store(path, use_cli=False)
        with ResultStore(path, readonly=True) as store:
            results = store.results()
            store.environments()
            store.accuracies()
            damaged = len(store.damaged)
        for result in results:
            _check_result(result)
    except OrtkitError as error:
        return f"clean {type(error).__name__}"
    return f"read ({'some damaged' if damaged else 'none damaged'})"


def _check_result(result: Result) -> None:
    """A result read from a damaged file is still a valid result, or the oracle fails."""
    if not all(isinstance(x, float | int) and math.isfinite(x) and x >= 0 for x in result.samples_ms):
        raise AssertionError(f"invalid samples read back: {result.samples_ms[:5]}")
    if (result.stats is not None) != (result.status == "ok" and bool(result.samples_ms)):
        raise AssertionError(f"statistics of a {result.status} result: {result.stats}")
