"""Building a target's virtual environment: one onnxruntime distribution, the worker's needs, and
the same ortkit as this one (never torch): from the source tree of an editable install, the wheel
or folder it was installed from (its PEP 610 ``direct_url.json``), or else the same version from
the package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ortkit.base import UsageError
from ortkit.profiler._isolation import TargetError

__all__ = ["KINDS", "WORKER_REQUIREMENTS", "OrtkitOrigin", "build_venv", "ortkit_origin", "origin_of", "source_tree"]

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

@dataclass(frozen=True)
class OrtkitOrigin:
    """Where a target's ortkit comes from: pip arguments, and the words for messages."""

    pip_args: tuple[str, ...]
    description: str
    local: bool  # installed without the index (a folder or a wheel on this machine)


def ortkit_origin() -> OrtkitOrigin:
    """How to install this very ortkit elsewhere, from how it was installed here (PEP 610)."""
    from importlib import metadata

    from ortkit.base import ortkit_version

    try:
        text = metadata.distribution("ortkit").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    if text:
        try:
            direct = json.loads(text)
        except ValueError:
            direct = {}
        url = str(direct.get("url", ""))
        if url.startswith("file://"):
            path = Path(unquote(urlparse(url).path))
            editable = bool((direct.get("dir_info") or {}).get("editable"))
            if path.exists():
                return origin_of(path, editable=editable)
    tree = source_tree()
    if (tree / "pyproject.toml").is_file():  # running from a checkout that pip does not know
        return origin_of(tree, editable=True)
    version = ortkit_version()
    return OrtkitOrigin((f"ortkit=={version}",), f"ortkit {version} from the package index", local=False)


def origin_of(source: str | os.PathLike[str], *, editable: bool = False) -> OrtkitOrigin:
    """An origin from a wheel file or a source tree (a folder holding pyproject.toml).

    Raises:
        UsageError: ``source`` is neither.
    """
    path = Path(source).resolve()
    if path.is_file() and path.suffix == ".whl":
        return OrtkitOrigin((str(path),), f"the wheel {path}", local=True)
    if (path / "pyproject.toml").is_file():
        args = ("-e", str(path)) if editable else (str(path),)
        return OrtkitOrigin(args, f"{'an editable install of ' if editable else ''}the source tree {path}", local=True)
    raise UsageError(f"--source {source}: not an ortkit wheel (.whl) nor a folder holding pyproject.toml")


def build_venv(kind: str, env_dir: Path, origin: OrtkitOrigin, python: str | os.PathLike[str] | None, *, quiet: bool = True) -> Path:
    """Create ``env_dir`` with the packages of ``kind`` and ortkit from ``origin``; its
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
        # --no-deps: ortkit's own dependencies would pull torch; the worker's needs are above.
        local = ("--no-build-isolation", "--no-index") if origin.local else ()
        _run([*pip, "--no-deps", *local, *origin.pip_args], f"installing ortkit from {origin.description}")
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
