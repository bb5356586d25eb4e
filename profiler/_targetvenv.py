"""Building a target's virtual environment: one onnxruntime distribution, the worker's needs, and
ortkit itself from its source tree (never torch).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ortkit.profiler._isolation import TargetError

__all__ = ["KINDS", "WORKER_REQUIREMENTS", "build_venv", "source_tree"]

#: What `create(kind)` installs for each kind: the onnxruntime distribution (plus extras).
KINDS: dict[str, tuple[str, ...]] = {
    "cpu": ("onnxruntime",),
    "openvino": ("onnxruntime-openvino",),
    "gpu": ("onnxruntime-gpu", "nvidia-ml-py"),
}

# What the profiler's worker imports in a target, besides onnxruntime and ortkit itself. The list
# is written out (ortkit is installed with --no-deps) so that a target never pulls torch.
WORKER_REQUIREMENTS: tuple[str, ...] = (
    "numpy>=1.24",
    "onnx>=1.16",
    "click>=8.1",
    "rich>=13",
    "psutil>=5.9",
    "safetensors>=0.4",
    "tomli>=2.0; python_version < '3.11'",
    # so that ortkit installs from the source tree without build isolation (no second download)
    "setuptools>=68",
    "wheel",
)

def build_venv(kind: str, env_dir: Path, src: Path, python: str | os.PathLike[str] | None, *, quiet: bool = True) -> Path:
    """Create ``env_dir`` with the packages of ``kind`` and an editable ortkit from ``src``; its
    interpreter's path. A half-built environment is deleted.

    Raises:
        TargetError: venv creation or pip failed (pip's last error line is in the message).
    """
    base = Path(python) if python else Path(getattr(sys, "_base_executable", sys.executable))
    _run([str(base), "-m", "venv", str(env_dir)], "creating the virtual environment")
    env_python = env_dir / "bin" / "python"
    pip = [str(env_python), "-m", "pip", "install", "--disable-pip-version-check"] + (["-q"] if quiet else [])
    try:
        _run([*pip, *KINDS[kind], *WORKER_REQUIREMENTS], f"installing {', '.join(KINDS[kind])}")
        _run([*pip, "--no-deps", "--no-build-isolation", "--no-index", "-e", str(src)], "installing ortkit")
    except TargetError:
        shutil.rmtree(env_dir, ignore_errors=True)  # a half-built environment is worse than none
        raise
    return env_python


def source_tree() -> Path:
    """The folder holding the pyproject.toml this ortkit was installed from (editable installs)."""
    import ortkit.profiler

    return Path(ortkit.profiler.__file__).resolve().parent.parent


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        raise TargetError(f"{what} failed: cannot run {command[0]}: {error.strerror or error}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["no output"]
        raise TargetError(f"{what} failed (exit {done.returncode}): {errors[-1].strip()}")
