from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli


def test_train_tiny_writes_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "ck"
    result = CliRunner().invoke(cli, ["train", "gru", "--task", "adding", "--epochs", "1", "--out", str(out),
                                      "--task-option", "length=10", "--task-option", "train_size=128", "--set", "hidden_size=8",
                                      "--set", "lr=0.01", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == "gru" and summary["metric_name"] == "mse" and summary["seed"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task_options"]["length"] == 10 and manifest["overrides"]["hidden_size"] == 8
    assert (out / "model.safetensors").is_file()


def test_train_with_progress_bar_prints_the_test_metric(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "tcn", "--task", "seq-digits", "--epochs", "1",
                                      "--set", "channels=4", "--set", "levels=2", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "test accuracy:" in result.output and "checkpoint:" in result.output


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["train", "lstn", "--task", "adding", "--out", "X"], 1, "did you mean lstm"),
        (["train", "lstm", "--task", "addng", "--out", "X"], 1, "did you mean adding"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--set", "hiden=3"], 2, "hyperparameters: input_size"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--set", "hidden_size"], 2, "KEY=VALUE"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--set", "hidden_size=0"], 1, "hidden_size=0 is invalid"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--task-option", "length=1"], 1, "length=1 is invalid"),
        (["train", "cnn2d", "--task", "adding", "--out", "X"], 1, "takes image input"),
        (["train", "lstm", "--out", "X"], 2, "Missing option '--task'"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--epochs", "0"], 2, "--epochs"),
        (["train", "lstm", "--task", "adding", "--out", "X", "--time-budget", "-1"], 2, "--time-budget"),
    ],
)
def test_bad_command_lines_give_one_line_errors(args: list[str], code: int, fragment: str, tmp_path: Path) -> None:
    args = [str(tmp_path / "out") if a == "X" else a for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()


def test_train_o_is_a_deprecated_task_option() -> None:
    result = CliRunner().invoke(cli, ["train", "lstm", "--task", "adding", "--out", "X", "-o", "length=1"])
    assert result.exit_code == 1 and "length=1 is invalid" in result.output  # still read as a task option
    assert "-o (train's --task-option) is deprecated" in result.stderr
