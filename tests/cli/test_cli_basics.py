from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from ortkit.cli._main import cli


def test_help_lists_commands_without_importing_torch_or_onnxruntime() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from ortkit.cli._main import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('env' in r.output, 'torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_import_runtime_does_not_import_torch() -> None:
    code = "import sys, ortkit.runtime, ortkit\nortkit.Runtime\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_env_json_names_the_onnxruntime_distribution() -> None:
    result = CliRunner().invoke(cli, ["env", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["onnxruntime_distribution"] in {"onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"}
    assert "CPUExecutionProvider" in data["execution_providers"]
    assert data["cpu_cores_logical"] >= 1
    assert len(data["key"]) == 16


def test_env_table_mentions_execution_providers() -> None:
    result = CliRunner().invoke(cli, ["env"])
    assert result.exit_code == 0
    assert "CPUExecutionProvider" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_importing_ortkit_without_onnxruntime_names_the_extras() -> None:
    # sys.modules[name] = None makes the module unimportable, as if no distribution were installed.
    # The package and the torch-only model zoo import; the runtime names the extras.
    code = "import sys\nsys.modules['onnxruntime'] = None\nimport ortkit, ortkit.models\nprint(ortkit.models.list_models()[:1])\nimport ortkit.runtime\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stdout.strip().startswith("['"), done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ortkit needs one onnxruntime distribution")
    for extra in ("ortkit[cpu]", "ortkit[gpu]", "ortkit[openvino]"):
        assert extra in last


def test_cli_without_onnxruntime_says_so_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    # A sitecustomize that hides onnxruntime from the console script, as if none were installed.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['onnxruntime'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    exe = str(Path(sys.executable).with_name("ortkit"))
    run = subprocess.run([exe, "run", str(tmp_path / "m.onnx")], capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "Error: ortkit needs one onnxruntime distribution and none is installed: pip install 'ortkit[cpu]' (onnxruntime), "
        "'ortkit[gpu]' (onnxruntime-gpu) or 'ortkit[openvino]' (onnxruntime-openvino); install only one of them."
    ]
    # `ortkit env` still runs, to diagnose the environment
    diagnosed = subprocess.run([exe, "env", "--json"], capture_output=True, text=True, env=env)
    assert diagnosed.returncode == 0, diagnosed.stderr
    assert json.loads(diagnosed.stdout)["execution_providers"] == []
