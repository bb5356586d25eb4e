"""Serving with tuned profiles: the model a profile was tuned for runs its choice (real server,
real requests), the others run untuned, and every bad profile is one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ortkit.base import file_sha256
from ortkit.cli import cli
from ortkit.runtime import Runtime, SessionSettings, TunedChoice, TunedProfile, TunedProfileError, TunedTarget
from ortkit.serve import ServeError, ServeOptions, app, load_models

from .conftest import running
from .test_batching import _infer
from .test_cli import _free_port

SETTINGS = SessionSettings(threads=1, spinning=False, memory_pattern=False)


def _profile(model: Path, folder: Path, name: str = "mlp.tuned.json") -> Path:
    sha = file_sha256(model)
    choice = TunedChoice(shapes=((4, None),), ep="cpu", settings=SETTINGS, model_sha256=sha)
    return TunedProfile(model_sha256=sha, target=TunedTarget.here(), choices=(choice,), model_label="mlp").save(folder / name)


def test_the_tuned_model_runs_its_choice_and_answers_like_the_untuned_one(model_files: dict[str, Path], tmp_path: Path) -> None:
    profile = _profile(model_files["mlp"], tmp_path)
    models = load_models([model_files["mlp"], model_files["gru"]], ServeOptions(max_batch=4, tuned=(str(profile),)))
    mlp, gru = models
    assert mlp.runtime.tuned is not None and mlp.runtime.settings == SETTINGS
    assert gru.runtime.tuned is None
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with running(app(models, ServeOptions(max_batch=4))) as (url, _):
        got = _infer(url, "mlp", {"x": x})["y"]
    np.testing.assert_allclose(got, Runtime(model_files["mlp"], "cpu").run(x)["y"], rtol=1e-6)


def test_bad_profiles_are_refused_before_serving(model_files: dict[str, Path], tmp_path: Path) -> None:
    profile = _profile(model_files["mlp"], tmp_path)
    with pytest.raises(ServeError, match=f"for model {file_sha256(model_files['mlp'])[:12]}, which is not served"):
        load_models([model_files["gru"]], ServeOptions(tuned=(str(profile),)))
    twice = _profile(model_files["mlp"], tmp_path, "again.json")
    with pytest.raises(ServeError, match="same model"):
        load_models([model_files["mlp"]], ServeOptions(tuned=(str(profile), str(twice))))
    with pytest.raises(ServeError, match="do not pass threads"):
        ServeOptions(threads=1, tuned=(str(profile),))
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{}")
    with pytest.raises(TunedProfileError, match="not an ortkit tuned profile"):
        load_models([model_files["mlp"]], ServeOptions(tuned=(str(damaged),)))


def test_serve_command_with_tuned(model_files: dict[str, Path], tmp_path: Path) -> None:
    profile = _profile(model_files["mlp"], tmp_path)
    result = CliRunner().invoke(cli, ["serve", str(model_files["mlp"]), "--tuned", str(profile), "--threads", "1"])
    assert result.exit_code == 2 and "do not pass --ep or --threads" in result.output
    assert len(result.output.strip().splitlines()) == 1
    port = _free_port()
    cmd = [sys.executable, "-c", "from ortkit.cli import main; main()", "serve", str(model_files["mlp"]),
           str(model_files["gru"]), "--port", str(port), "--max-batch", "4", "--tuned", str(profile), "--json"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())  # type: ignore[union-attr]
        for _ in range(300):  # bounded: about 30 s; SIGTERM is handled once uvicorn runs
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err, err
    served = {m["name"]: m for m in ready["models"]}
    assert served["mlp"]["tuned"] == "cpu, 1 thread, no spinning, no memory pattern, fp32"
    assert served["gru-streaming"]["tuned"] is None
