"""The wheel installs into a fresh environment and brings all five subpackages with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("ortkit", "ortkit/models", "ortkit/exporter", "ortkit/runtime", "ortkit/profiler")


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.venv
@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    # Build from a copy, so that the build leaves no build/ or egg-info in the shared checkout.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for folder in ("ortkit", "models", "exporter", "runtime", "profiler"):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("ortkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in SUBPACKAGES:
        assert f"{package}/__init__.py" in names, package
        assert f"{package}/py.typed" in names, package
    assert "ortkit/models/_zoo.py" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)])
    # Without dependencies nothing of ortkit can run, but find_spec locates it without executing it,
    # and importing it must give the one clear message about the onnxruntime extras.
    code = ("import importlib.util, pathlib, sys\n"
            "root = pathlib.Path(importlib.util.find_spec('ortkit').origin).parent\n"
            "print(root)\n"
            f"print(all((root.parent / p / '__init__.py').is_file() for p in {SUBPACKAGES!r}))\n"
            "print(sys.prefix)\n")
    out = _run([str(python), "-c", code], cwd=tmp_path).stdout.split()
    assert Path(out[0]).is_relative_to(venv), out
    assert out[1] == "True"
    assert Path(out[2]) == venv
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bare = subprocess.run([str(python), "-c", "import ortkit"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert bare.returncode == 1
    assert "pip install 'ortkit[cpu]'" in bare.stderr.strip().splitlines()[-1]
    scripts = venv / "bin" / "ortkit"
    assert scripts.is_file()
