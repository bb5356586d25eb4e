"""`tuned_spec`: a base configuration with a tuned profile's choice applied (and the store keeps
a tuned configuration's session settings, while rows written before they existed still read)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from ortkit.base import UsageError, file_sha256
from ortkit.profiler import ProfileSpec, ResultStore, collect_environment, tuned_spec
from ortkit.profiler._result import Metrics, Result
from ortkit.runtime import SessionSettings, TunedChoice, TunedProfile, TunedProfileError, TunedProfileMismatch, TunedTarget
from tests.profiler.conftest import lstm_model

SMALL = SessionSettings(threads=1, spinning=False)
LARGE = SessionSettings(threads=2, execution_mode="parallel", inter_op_threads=2, optimization="extended")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    model = lstm_model(tmp_path / "lstm.onnx")
    # A second file stands for the precision variant that won at large batches.
    variant = lstm_model(tmp_path / "lstm.int8.onnx", hidden=8)
    return model, variant


def _profile(model: Path, variant: Path, target: TunedTarget | None = None) -> TunedProfile:
    sha = file_sha256(model)
    return TunedProfile(model_sha256=sha, target=target or TunedTarget.here(), model_label="lstm", choices=(
        TunedChoice(shapes=((1, 16),), ep="cpu", settings=SMALL, model_sha256=sha),
        TunedChoice(shapes=((64, 16), (64, 128)), ep="cpu", settings=LARGE, model_sha256=file_sha256(variant),
                    precision="int8-dynamic", model_file=variant.name, ep_options=(("opt", "1"),)),
    ))


def _spec(model: Path, **changes: object) -> ProfileSpec:
    values: dict[str, object] = dict(model=str(model), model_sha256=file_sha256(model), model_label="lstm", batch=1, time=16,
                                     tags=(("target", "here"),))
    values.update(changes)
    return ProfileSpec(**values)  # type: ignore[arg-type]


def test_the_choice_for_the_shape_sets_settings_and_tag(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, variant = files
    path = _profile(model, variant).save(tmp_path / "lstm.tuned.json")
    spec = tuned_spec(_spec(model), _profile(model, variant), path)
    assert (spec.threads, spec.optimization, spec.session) == (1, "all", (("spinning", "false"),))
    assert (spec.model, spec.precision, spec.ep) == (str(model), "fp32", "cpu")
    assert spec.tags == (("target", "here"), ("tuned", "1"))
    assert spec.spec_hash != _spec(model).spec_hash  # tuned and default are two configurations


def test_a_variant_that_won_replaces_model_hash_and_precision(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, variant = files
    path = _profile(model, variant).save(tmp_path / "lstm.tuned.json")
    spec = tuned_spec(_spec(model, batch=32, time=100), _profile(model, variant), path)
    assert (spec.model, spec.model_sha256, spec.precision) == (str(variant), file_sha256(variant), "int8-dynamic")
    assert (spec.threads, spec.optimization, spec.ep_options) == (2, "extended", (("opt", "1"),))
    assert SessionSettings.from_extra(spec.session, spec.threads, spec.optimization) == LARGE
    assert tuned_spec(spec, _profile(model, variant), path) == spec  # applying it twice changes nothing


def test_refusals(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, variant = files
    profile = _profile(model, variant)
    path = profile.save(tmp_path / "lstm.tuned.json")
    with pytest.raises(TunedProfileMismatch, match=file_sha256(model)[:12]):
        tuned_spec(_spec(model, model_sha256="f" * 64), profile, path)
    elsewhere = dataclasses.replace(TunedTarget.here(), onnxruntime="0.1.0")
    with pytest.raises(TunedProfileMismatch, match="onnxruntime 0.1.0"):
        tuned_spec(_spec(model), _profile(model, variant, elsewhere), path)
    with pytest.raises(TunedProfileMismatch, match="pass the tuned model"):  # a variant, at a shape it did not win
        tuned_spec(_spec(variant, batch=1), profile, path)
    assert tuned_spec(_spec(variant, batch=64), profile, path).model == str(variant)
    with pytest.raises(UsageError, match="torch-eager"):
        tuned_spec(_spec(model, runner="torch-eager"), profile, path)
    variant.unlink()
    with pytest.raises(TunedProfileError, match="missing"):
        tuned_spec(_spec(model, batch=64), profile, path)


def _result(spec: ProfileSpec) -> Result:
    return Result(spec=spec, environment=collect_environment(with_gpus=False), status="ok", samples_ms=(1.0, 1.2, 0.9),
                  metrics=Metrics())


def test_the_store_keeps_the_session_settings_and_reads_rows_written_before_them(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, variant = files
    tuned = tuned_spec(_spec(model, batch=64), _profile(model, variant), tmp_path / "lstm.tuned.json")
    plain = _spec(model, batch=2)
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add(_result(tuned))
        store.add(_result(plain))
    # Rows written before ProfileSpec.session existed have no "session" in their spec JSON.
    with sqlite3.connect(db) as conn:
        for key, text in conn.execute("SELECT key, spec FROM results").fetchall():
            data = json.loads(text)
            if not data["session"]:
                del data["session"]
                conn.execute("UPDATE results SET spec = ? WHERE key = ?", (json.dumps(data), key))
    with ResultStore(db) as store:
        specs = {r.spec.batch: r.spec for r in store.results()}
        keys = {r.spec.batch: r.key for r in store.results()}
    assert specs[64] == tuned and specs[64].session == LARGE.extra()
    assert specs[2] == plain and specs[2].session == ()
    env = collect_environment(with_gpus=False).key
    assert keys[2] == plain.key(env)  # an old row keeps its key: a resumed sweep finds it
