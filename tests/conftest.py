"""Shared fixtures. Tests are grouped by marker (see pyproject.toml) so a CPU-only machine runs
everything it can and skips, with a reason, what needs a GPU.

Every test runs sealed from the user's ortkit state and from the tests before it: its own empty
``ORTKIT_HOME`` (so no registered target leaks in or out), no ``ORTKIT_FASHION_MNIST``, and no
plugin EP library left registered in the pytest process (onnxruntime keeps a registration for the
life of the process, so tests register plugins in a child process). ``--shuffle SEED`` runs the
files, and the tests in each file, in an order drawn from SEED, to show that no test depends on
another one's leftovers.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Per-user state that would make a test's outcome depend on the machine it runs on.
_USER_STATE = ("ORTKIT_FASHION_MNIST",)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the installed `ortkit` console script in a subprocess, as a user would."""
    exe = Path(sys.executable).with_name("ortkit")
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


# ------------------------------------------------------------------------------ sealed state


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary ORTKIT_HOME for session fixtures, which set up before any test's own home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORTKIT_HOME", str(tmp_path_factory.mktemp("ortkit-home-session")))
        for name in _USER_STATE:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def _sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test gets a fresh, empty ORTKIT_HOME (subprocesses inherit it) and must not leave a
    plugin EP library registered: a later test would see it in `available_providers()`."""
    # Its own MonkeyPatch, not the test's `monkeypatch` fixture: that one is undone after this
    # fixture's teardown, so a test that patches the registry itself would look like a leak.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORTKIT_HOME", str(tmp_path_factory.mktemp("ortkit-home")))
        for name in _USER_STATE:
            patch.delenv(name, raising=False)
        yield
    providers = sys.modules.get("ortkit.runtime._providers")
    leaked = sorted(getattr(providers, "_LIBRARIES", {}))
    if leaked:
        # Forget them here so only the leaking test fails; onnxruntime itself cannot unload them
        # while a session might still use them.
        providers._LIBRARIES.clear()  # type: ignore[union-attr]
        pytest.fail(f"the test left plugin EP libraries registered for the rest of the process: {', '.join(leaked)} "
                    "(register them in a child process)", pytrace=False)


# ----------------------------------------------------------------------------- --shuffle SEED


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle", metavar="SEED", default=None,
        help="run the test files in an order drawn from SEED (an integer, or 'random'), and the tests "
        "in each file shuffled too; the header names the seed to rerun the same order",
    )


def _shuffle_seed(config: pytest.Config) -> int | None:
    value = config.getoption("--shuffle")
    if value is None:
        return None
    if not hasattr(config, "_ortkit_shuffle_seed"):
        if value == "random":
            seed = random.SystemRandom().randrange(10**6)
        else:
            try:
                seed = int(value)
            except ValueError:
                raise pytest.UsageError(f"--shuffle {value!r}: expected an integer seed or 'random'") from None
        config._ortkit_shuffle_seed = seed  # type: ignore[attr-defined]
    return config._ortkit_shuffle_seed  # type: ignore[attr-defined,no-any-return]


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = _shuffle_seed(config)
    return None if seed is None else f"shuffled order: --shuffle {seed}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    # Repeated at the end, where -q runs (which print no header) show it too.
    header = pytest_report_header(config)
    if header:
        terminalreporter.write_line(header)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = _shuffle_seed(config)
    if seed is None:
        return
    rng = random.Random(seed)
    # Files stay contiguous so module fixtures are built once; both levels are shuffled.
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    files = list(by_file.values())
    rng.shuffle(files)
    for group in files:
        rng.shuffle(group)
    items[:] = [item for group in files for item in group]
