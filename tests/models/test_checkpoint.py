from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ortkit.models import CheckpointError, Manifest, create_model, load_checkpoint, save_checkpoint
from ortkit.models._checkpoint import MANIFEST_FILE, WEIGHTS_FILE, read_manifest, versions


def _manifest(model: str = "gru", **changes: object) -> Manifest:
    base = dict(model=model, overrides={"preset": "seq-digits", "hidden_size": 8}, task="seq-digits",
                task_options={"permute": False, "seed": 0}, metric_name="accuracy", metric_value=0.5,
                higher_is_better=True, seed=0, training_seconds=1.0, epochs=1, steps=10, parameters=0,
                versions=versions())
    base.update(changes)
    return Manifest(**base)  # type: ignore[arg-type]


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = create_model("gru", preset="seq-digits", hidden_size=8)
    return save_checkpoint(tmp_path / "ck", model, _manifest())


def test_round_trip_restores_weights_and_manifest(checkpoint: Path) -> None:
    torch.manual_seed(0)
    original = create_model("gru", preset="seq-digits", hidden_size=8).eval()
    model, manifest = load_checkpoint(checkpoint)
    assert not model.training
    x = torch.randn(2, 9, 1)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
    assert manifest.model == "gru" and manifest.overrides["hidden_size"] == 8
    assert manifest.schema_version == 1 and len(manifest.weights_sha256) == 64
    assert model.ortkit_spec.hparams()["hidden_size"] == 8
    # The folder's files are also accepted as the path.
    assert load_checkpoint(checkpoint / MANIFEST_FILE)[1] == manifest
    assert load_checkpoint(checkpoint / WEIGHTS_FILE)[1] == manifest


def test_list_valued_overrides_round_trip(tmp_path: Path) -> None:
    model = create_model("cnn2d", widths=(8, 16))
    man = _manifest("cnn2d", overrides={"preset": "digits", "widths": [8, 16]}, task="digits", task_options={"seed": 0})
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "c", model, man))
    assert loaded.ortkit_spec == model.ortkit_spec


def test_missing_folder_and_files(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_checkpoint(tmp_path / "nope")
    (checkpoint / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: weights file missing"):
        load_checkpoint(checkpoint)
    (checkpoint / MANIFEST_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"manifest\.json: no manifest"):
        load_checkpoint(checkpoint)


def test_corrupt_weights_are_refused_naming_the_file(checkpoint: Path) -> None:
    weights = checkpoint / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-4:] = b"\xff\xff\xff\xff"
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: sha256 does not match"):
        load_checkpoint(checkpoint)
    # Without the hash to catch it, safetensors itself refuses a garbage file.
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    manifest["weights_sha256"] = ""
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a readable safetensors file"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: "{not json", "not valid JSON"),
        (lambda m: "[1, 2]", "expected a JSON object"),
        (lambda m: json.dumps({**m, "schema_version": 99}), "newer than this ortkit reads"),
        (lambda m: json.dumps({k: v for k, v in m.items() if k != "schema_version"}), "schema_version"),
        (lambda m: json.dumps({k: v for k, v in m.items() if k != "task"}), "missing field(s) task"),
        (lambda m: json.dumps({**m, "seed": "0"}), "field 'seed' has the wrong type"),
        (lambda m: json.dumps({**m, "epochs": True}), "field 'epochs' has the wrong type"),
        (lambda m: json.dumps({**m, "model": "transformer"}), "unknown model 'transformer'"),
        (lambda m: json.dumps({**m, "overrides": {"hidden_size": -1}}), "hidden_size=-1 is invalid"),
    ],
)
def test_bad_manifests_are_refused(checkpoint: Path, edit, fragment: str) -> None:
    path = checkpoint / MANIFEST_FILE
    path.write_text(edit(json.loads(path.read_text())))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(checkpoint)
    assert fragment in str(info.value)
    assert MANIFEST_FILE in str(info.value)


def test_weights_of_another_model_list_the_mismatch(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "c", create_model("lstm", hidden_size=8), _manifest())
    with pytest.raises(CheckpointError, match="expects"):
        load_checkpoint(folder)  # same keys, wrong shapes (LSTM gates are 4x, GRU 3x)
    folder = save_checkpoint(tmp_path / "d", create_model("tcn"), _manifest())
    with pytest.raises(CheckpointError, match=r"missing \['head.bias'|missing \['rnn"):
        load_checkpoint(folder)


class _Payload:
    def __reduce__(self):  # noqa: D105 - executed only if something unpickles it
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_never_executed(tmp_path: Path, checkpoint: Path) -> None:
    """A torch.save pickle in place of the safetensors file is refused, also when
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 would make a bare torch.load run it."""
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = marker  # type: ignore[attr-defined]
    (checkpoint / WEIGHTS_FILE).write_bytes(pickle.dumps({"w": payload}))
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    manifest["weights_sha256"] = ""
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    code = ("from ortkit.models import load_checkpoint, CheckpointError\n"
            f"try:\n    load_checkpoint({str(checkpoint)!r})\nexcept CheckpointError as e:\n    print('refused', e)\n")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("refused"), out.stdout + out.stderr
    assert WEIGHTS_FILE in out.stdout
    assert not marker.exists()


def test_read_manifest_reports_fields(checkpoint: Path) -> None:
    manifest = read_manifest(checkpoint)
    assert manifest.task == "seq-digits" and manifest.versions["torch"] == torch.__version__


def test_save_refuses_a_file_as_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        save_checkpoint(tmp_path / "f", create_model("gru"), _manifest())


def test_a_deeply_nested_manifest_is_a_clear_error(tmp_path: Path) -> None:
    from ortkit.models._checkpoint import read_manifest

    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_manifest(tmp_path)
