"""The sealing in tests/conftest.py: a test never sees the user's ortkit state or another test's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_SEEN: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_its_own_empty_ortkit_home(round_: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    from ortkit.profiler import list_targets

    home = Path(os.environ["ORTKIT_HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp()) and not any(home.iterdir())
    assert list_targets() == [] and "ORTKIT_FASHION_MNIST" not in os.environ
    assert home.name not in _SEEN  # a fresh folder per test, whatever ran before
    _SEEN.append(home.name)
    (home / "targets.json").write_text("{not json")  # would break the next test if it were shared
    # Child processes inherit it, so a CLI run in a test sees the same empty home.
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['ORTKIT_HOME'])"], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(home)
