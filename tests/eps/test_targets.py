"""Targets: named Python environments for the profiler. Probed for real (no mocks): the dev venv's
own interpreter is a valid target, a bare venv without onnxruntime is not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.base import UsageError
from ortkit.profiler import targets

DATA = Path(__file__).parent / "data"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ortkit-home"
    monkeypatch.setenv("ORTKIT_HOME", str(folder))
    return folder


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with no onnxruntime, numpy or ortkit: a fresh venv without pip."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def test_probe_reports_this_environments_distribution_and_eps() -> None:
    import onnxruntime

    from ortkit.profiler._environment import onnxruntime_distribution

    found = targets.probe(sys.executable)
    assert (found.distribution, found.onnxruntime) == (onnxruntime_distribution()[0], onnxruntime.__version__)
    assert found.providers == tuple(onnxruntime.get_available_providers())
    assert "cpu" in found.eps
    assert found.problems == ()
    assert found.python_version == sys.version.split()[0]


def test_add_list_resolve_remove_round_trip(home: Path) -> None:
    added = targets.add("dev", sys.executable)
    assert added.python == sys.executable
    assert added.default_ep == "cpu"  # the dev venv has the CPU build
    assert added.managed is False
    stored = json.loads((home / "targets.json").read_text())
    assert stored["schema"] == targets.SCHEMA_VERSION
    assert stored["targets"]["dev"]["python"] == sys.executable
    assert [t.name for t in targets.list()] == ["dev"]
    assert targets.resolve("dev") == added
    assert targets.remove("dev").name == "dev"
    assert targets.list() == []


def test_resolve_local_is_this_interpreter(home: Path) -> None:
    local = targets.resolve(targets.LOCAL)
    assert local.python == sys.executable
    assert "CPUExecutionProvider" in local.providers
    assert not (home / "targets.json").exists()


def test_unknown_target_names_the_known_ones_and_the_fix(home: Path) -> None:
    targets.add("dev", sys.executable)
    with pytest.raises(targets.TargetError, match=r"no target named 'ov' \(known: dev;.*ortkit target add ov --python"):
        targets.resolve("ov")
    with pytest.raises(targets.TargetError, match="no target named 'ov'"):
        targets.remove("ov")


def test_existing_name_needs_replace(home: Path) -> None:
    targets.add("dev", sys.executable)
    with pytest.raises(UsageError, match="exists"):
        targets.add("dev", sys.executable)
    assert targets.add("dev", sys.executable, replace=True).name == "dev"


@pytest.mark.parametrize("name", ["", "a b", "../x", "local", "-x"])
def test_bad_names_are_usage_errors(home: Path, name: str) -> None:
    with pytest.raises(UsageError):
        targets.add(name, sys.executable)


def test_python_that_does_not_exist(home: Path, tmp_path: Path) -> None:
    with pytest.raises(targets.TargetError, match="no interpreter at .*nope/bin/python"):
        targets.add("x", tmp_path / "nope" / "bin" / "python")


def test_a_file_that_is_not_python(home: Path, tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(targets.TargetError, match="not a working Python 3 interpreter"):
        targets.add("x", fake)
    assert targets.list() == []


def test_environment_without_onnxruntime_is_refused_with_the_fix(home: Path, bare_python: Path) -> None:
    found = targets.probe(bare_python)
    assert found.distribution is None and found.onnxruntime is None and found.providers == ()
    assert "ortkit is not installed in it" in found.problems
    with pytest.raises(targets.TargetError, match=r"cannot be a target: it has no onnxruntime;.*ortkit is not installed in it.*pip install .*\[cpu\]"):
        targets.add("bare", bare_python)


def test_default_ep_must_be_available(home: Path) -> None:
    with pytest.raises(targets.TargetError, match=r"EP 'openvino' is not available in .*it offers: .*cpu"):
        targets.add("dev", sys.executable, default_ep="openvino")


def test_resolve_reports_a_vanished_interpreter(home: Path, tmp_path: Path) -> None:
    targets.add("gone", sys.executable)
    stored = json.loads((home / "targets.json").read_text())
    stored["targets"]["gone"]["python"] = str(tmp_path / "deleted-venv" / "bin" / "python")
    (home / "targets.json").write_text(json.dumps(stored))
    with pytest.raises(targets.TargetError, match="its interpreter .*deleted-venv/bin/python no longer exists"):
        targets.resolve("gone")
    assert targets.remove("gone").name == "gone"


def test_remove_delete_refuses_environments_ortkit_did_not_create(home: Path) -> None:
    targets.add("dev", sys.executable)
    with pytest.raises(targets.TargetError, match="added, not created"):
        targets.remove("dev", delete=True)
    assert [t.name for t in targets.list()] == ["dev"]


def test_schema_1_golden_file_loads(home: Path) -> None:
    home.mkdir()
    shutil.copy(DATA / "targets-v1.json", home / "targets.json")
    (ov,) = targets.list()
    assert ov.name == "ov" and ov.default_ep == "openvino" and ov.managed
    assert ov.eps == ("openvino", "cpu")
    assert ov.environment == Path("/opt/envs/ov")


def test_newer_schema_and_garbage_are_clear_errors(home: Path) -> None:
    home.mkdir()
    (home / "targets.json").write_text(json.dumps({"schema": targets.SCHEMA_VERSION + 1, "targets": {}}))
    with pytest.raises(targets.TargetError, match="newer than this ortkit understands"):
        targets.list()
    (home / "targets.json").write_text("{not json")
    with pytest.raises(targets.TargetError, match="cannot read the target list"):
        targets.list()


def test_create_rejects_unknown_kind_and_non_empty_folder(home: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown target kind 'rocm'"):
        targets.create("rocm")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(UsageError, match="exists and is not empty"):
        targets.create("openvino", tmp_path / "full")


# ------------------------------------------------------------------------------------------ CLI


def test_cli_add_list_json_remove(home: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["target", "add", "dev", "--python", sys.executable])
    assert added.exit_code == 0, added.output
    assert added.output.startswith("dev: cpu via onnxruntime")
    listed = runner.invoke(cli, ["target", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.output)
    assert entry["name"] == "dev" and entry["python"] == sys.executable
    assert "CPUExecutionProvider" in entry["providers"]
    plain = runner.invoke(cli, ["target", "list"])
    assert "dev: cpu via" in plain.output
    removed = runner.invoke(cli, ["target", "remove", "dev"])
    assert removed.exit_code == 0 and "removed target dev" in removed.output
    empty = runner.invoke(cli, ["target", "list"])
    assert empty.exit_code == 0 and "no targets" in empty.output


def test_cli_errors_are_one_line(home: Path, bare_python: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["target", "add", "bare", "--python", str(bare_python)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.output.strip()
    assert message.startswith("Error: ") and "cannot be a target" in message and "\n" not in message
    unknown = runner.invoke(cli, ["target", "remove", "nope"])
    assert unknown.exit_code == 1 and "no target named 'nope'" in unknown.output
    bad_name = runner.invoke(cli, ["target", "add", "a b", "--python", sys.executable])
    assert bad_name.exit_code == 2 and "invalid target name" in bad_name.output


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_create_from_a_wheel_install_puts_the_same_wheel_into_the_target(tmp_path: Path) -> None:
    """A user's `pip install ortkit-X.whl` (no source tree anywhere): `ortkit target create cpu`
    installs that wheel into the target, not an editable tree (before: "source tree was not found")."""
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    # Built from a copy: setuptools writes build/ and *.egg-info next to the pyproject.toml.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
                   check=True, capture_output=True)
    shutil.rmtree(src)  # no source tree left to fall back on
    wheel = next(dist.glob("ortkit-*.whl"))
    user = tmp_path / "user-venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(user)], check=True)
    # The user's environment reuses this one's dependencies (a .pth line adds a folder, not the
    # editable ortkit hook in it), so only the wheel itself is installed there.
    user_site = next((user / "lib").glob("python3*/site-packages"))
    (user_site / "deps.pth").write_text(f"{site}\n")
    subprocess.run([str(user / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    env = {**__import__("os").environ, "ORTKIT_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(user / "bin" / "ortkit"), "target", "create", "cpu", "--path", str(tmp_path / "target")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target_python = tmp_path / "target" / "bin" / "python"
    where = subprocess.run([str(target_python), "-c", "import ortkit.base, importlib.metadata as m; "
                            "print(ortkit.base.__file__); print(m.version('ortkit')); print(m.distribution('ortkit').read_text('direct_url.json'))"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.splitlines()
    assert where[0].startswith(str(tmp_path / "target")), where  # installed into the target, not a link to a tree
    from ortkit.base import ortkit_version

    assert where[1] == ortkit_version()
    assert json.loads(where[2])["url"].endswith(wheel.name)


def test_origin_of_refuses_what_is_neither_a_wheel_nor_a_tree(tmp_path: Path) -> None:
    from ortkit.profiler._targetvenv import origin_of

    assert origin_of(REPO).pip_args == (str(REPO),)
    with pytest.raises(UsageError, match="not an ortkit wheel"):
        origin_of(tmp_path)
