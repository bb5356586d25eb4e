"""`ortkit export` as a user runs it: exit codes, the summary, the failure table, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli

FACTORIES = textwrap.dedent('''
    import torch

    class LengthBranch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(4, 2)
        def forward(self, x):
            return self.head(x.mean(1)) * (2.0 if x.shape[1] > 20 else 1.0)

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(4, 6, batch_first=True)
            self.head = torch.nn.Linear(6, 2)
        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    def length_branch():
        return LengthBranch()

    def small():
        return Small()
''')


@pytest.fixture
def factories(tmp_path: Path) -> Path:
    path = tmp_path / "factories.py"
    path.write_text(FACTORIES)
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("ortkit")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_export_zoo_model_with_variants(tmp_path: Path) -> None:
    out = tmp_path / "gru"
    result = CliRunner().invoke(cli, ["export", "gru", "--out", str(out), "--set", "hidden_size=8",
                                      "--int8", "dynamic", "--streaming"])
    assert result.exit_code == 0, result.output
    assert "exporter torchscript: passed verification" in result.output
    assert "parity long time" in result.output
    assert "variant int8-dynamic" in result.output and "GRU layer(s) stay float32" in result.output
    assert "variant streaming" in result.output and "random weights" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "export.json", "model.int8-dynamic.onnx", "model.onnx", "model.streaming.onnx"]
    report = json.loads((out / "export.json").read_text())
    assert [v["kind"] for v in report["variants"]] == ["int8-dynamic", "streaming"]


def test_export_user_factory_json(tmp_path: Path, factories: Path) -> None:
    result = CliRunner().invoke(cli, ["export", f"{factories}:small", "--out", str(tmp_path / "o"),
                                      "--input-spec", "x:float32:batch,time,4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["spec"]["recurrent_layers"] == 1 and report["spec"]["inputs"][0]["dims"] == ["batch", "time", 4]
    assert report["exporter"] == "torchscript" and all(row["ok"] for row in report["parity"])


def test_verification_failure_prints_table_exit_1_and_leaves_nothing(tmp_path: Path, factories: Path) -> None:
    out = tmp_path / "o"
    proc = _cli("export", f"{factories}:length_branch", "--out", str(out), "--input-spec", "x:float32:batch,time,4",
                "--exporter", "torchscript")
    assert proc.returncode == 1
    assert "FAIL  parity long time" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: export of 'length_branch' failed verification")
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("args,expected", [
    (["gru", "--checkpoint", "/nonexistent/w.pt"], "does not exist"),
    (["{factories}:nope", "--input-spec", "x:float32:batch,time,4"], "'nope' not found"),
    (["bilstm", "--streaming"], "not causal"),
    (["no-such-model"], "unknown model"),
])
def test_bad_input_is_one_line_exit_1(tmp_path: Path, factories: Path, args: list[str], expected: str) -> None:
    args = [a.replace("{factories}", str(factories)) for a in args]
    proc = _cli("export", *args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], proc.stderr


def test_pickle_payload_refused_even_with_force_env(tmp_path: Path, factories: Path) -> None:
    marker = tmp_path / "PWNED"
    code = textwrap.dedent(f"""
        import os, torch
        class Payload:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        torch.save({{"head.weight": torch.zeros(2, 6), "x": Payload()}}, {str(tmp_path / 'evil.pt')!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    proc = _cli("export", f"{factories}:small", "--input-spec", "x:float32:batch,time,4", "--checkpoint",
                str(tmp_path / "evil.pt"), "--out", str(tmp_path / "o"), env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and "pickle payload" in lines[0]
    assert not marker.exists()


def _invoke(*args: str):
    result = CliRunner().invoke(cli, ["export", *args])
    assert "Traceback" not in result.output, result.output
    return result


def test_help_names_every_source_form_and_the_input_syntax() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    for text in ("zoo name", "checkpoint folder", "FILE.py:FACTORY", "pkg.module:FACTORY", "one --input-spec per forward() argument",
                 "x:float32:batch,3,H,W", "--int8", "--streaming", "--example-time"):
        assert text in result.output, text


def test_image_user_model_with_symbolic_height_and_width(tmp_path: Path) -> None:
    factory = tmp_path / "cnn.py"
    factory.write_text("import torch\ndef build():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2),"
                       " torch.nn.BatchNorm2d(4), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n")
    result = _invoke(f"{factory}:build", "--input-spec", "x:float32:batch,3,H,W", "--out", str(tmp_path / "o"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["spec"]["inputs"][0]["dims"] == ["batch", 3, "H", "W"]
    assert [row["label"] for row in report["parity"]] == ["example", "other size", "other batch", "large size"]


@pytest.mark.parametrize("inputs,expected", [
    (["x:float33:batch,time,4"], "dtype 'float33'"),
    (["x:float32"], "expected NAME:DTYPE:DIM"),
    (["x:float32:batch,time,4", "x:float32:batch,4"], "given more than once"),
    (["x:float32:batch,seq,4"], "write 'time'"),
    (["x:float32:batch,time,4", "z:float32:batch,3"], "forward(x) takes 1 input(s) but 2"),
])
def test_bad_input_specs_are_usage_errors_exit_2(tmp_path: Path, factories: Path, inputs: list[str], expected: str) -> None:
    args = [a for spec in inputs for a in ("--input-spec", spec)]
    result = _invoke(f"{factories}:small", *args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        result = _invoke("gru", "--out", str(out))
        assert result.exit_code == 2 and "is a file" in result.stderr
    assert (tmp_path / "f").read_text() == "x"


def test_hostile_manifest_message_is_cut_to_one_short_line(tmp_path: Path) -> None:
    from ortkit.models import Manifest, create_model, save_checkpoint

    model = create_model("gru", hidden_size=4)
    manifest = Manifest(model="gru", overrides={"hidden_size": 4}, task="seq-digits", task_options={}, metric_name="accuracy",
                        metric_value=0.0, higher_is_better=True, seed=0, training_seconds=0.0, epochs=0, steps=0,
                        parameters=1, versions={})
    folder = save_checkpoint(tmp_path / "ck", model, manifest)
    data = json.loads((folder / "manifest.json").read_text())
    data["overrides"]["hidden_size"] = [1] * 100_000
    (folder / "manifest.json").write_text(json.dumps(data))
    result = _invoke(str(folder), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # the zoo quotes at most 60 characters of a bad value, so the line is short at its source
    assert len(lines) == 1 and len(lines[0]) < 300 and "hidden_size=(1, 1" in lines[0], lines[0][:300]
