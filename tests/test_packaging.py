"""The wheel, installed non-editable into a fresh environment, works from the repository root: no
source folder there shadows the installed package, and no worker depends on the working directory.

This is the path a new user takes (README: `pip install ".[cpu,torch,report]"` in a clone, then
commands from the clone's root), and the one an editable install hides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.profiler.conftest import matmul_model

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ortkit", "ortkit/base", "ortkit/runtime", "ortkit/models", "ortkit/exporter", "ortkit/profiler",
            "ortkit/cli", "ortkit/study", "ortkit/report", "ortkit/serve", "ortkit/fleet", "ortkit/tune")


def _run(cmd: list[str], *, cwd: Path, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    if check:
        assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from the files git tracks (a clean clone's content), so that build/ and egg-info never
    # land in the checkout.
    src = tmp_path_factory.mktemp("src")
    tracked = _run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    for name in ("app", "base", "runtime", "models", "exporter", "profiler", "pyproject.toml"):
        assert (src / name).exists(), f"{name} is not tracked by git"
    wheels = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)], cwd=src)
    (found,) = wheels.glob("ortkit-*.whl")
    return found


def _fresh_venv(root: Path, wheel: Path, *, with_dependencies: bool) -> Path:
    """A venv holding only the wheel; with_dependencies makes this interpreter's packages (numpy,
    onnx, onnxruntime...) visible to it through a .pth file, without its editable ortkit."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=root.parent)
    python = root / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], cwd=root.parent)
    if with_dependencies:
        # A .pth line only appends the folder to sys.path: the .pth files in it (the editable
        # install's finder) are not run, so `ortkit` can only come from the venv's own wheel.
        site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip())
        (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_holds_every_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
        assert f"{package}/py.typed" in names, package
    assert "ortkit/models/_zoo.py" in names and "ortkit/cli/_commands/study.py" in names
    assert not any(n.startswith(("app/", "base/", "tests/")) for n in names)


@pytest.mark.venv
@pytest.mark.slow
def test_the_installed_wheel_works_from_the_repository_root(wheel: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv", wheel, with_dependencies=True)
    ortkit = tmp_path / "venv" / "bin" / "ortkit"
    where = _run([str(python), "-c", "import ortkit, ortkit.runtime, ortkit.profiler; print(ortkit.runtime.__file__)"], cwd=REPO)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout

    model = matmul_model(tmp_path / "mm.onnx", size=8)
    db = tmp_path / "r.db"
    common = ["--batch", "2", "--threads", "1", "--max-time", "0.2", "--processes", "1", "--db", str(db), "--json"]
    # The worker runs under the venv's interpreter, started from the repository root.
    for extra in ([], ["--python", str(python), "--force"]):
        done = _run([str(ortkit), "profile", str(model), *common, *extra], cwd=REPO)
        summary = json.loads(done.stdout)
        assert summary["counts"]["ok"] == 1 and summary["measured"] == 1, done.stdout

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'version = 1\n[[models]]\nonnx = "{model}"\n[grid]\nbatch = [1]\nthreads = [1]\n'
                     '[measure]\nmax_time_s = 0.2\nprocesses = 1\n')
    done = _run([str(ortkit), "sweep", str(sweep), "--db", str(tmp_path / "s.db")], cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.venv
def test_without_onnxruntime_the_runtime_names_the_extras_and_the_package_still_imports(wheel: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "bare", wheel, with_dependencies=False)
    assert _run([str(python), "-c", "import ortkit, ortkit.base; print(ortkit.__version__)"], cwd=REPO).stdout.strip()
    bare = _run([str(python), "-c", "import ortkit.runtime"], cwd=REPO, check=False)
    assert bare.returncode == 1
    assert "pip install 'ortkit[cpu]'" in bare.stderr.strip().splitlines()[-1]
