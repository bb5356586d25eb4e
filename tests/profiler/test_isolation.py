"""Crashes, aborts, hangs and missing interpreters become failed records, never a dead sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.profiler._isolation import TargetError, run_isolated, worker_environment
from ortkit.profiler._spec import Budget, ProfileSpec



def _request(label: str) -> dict:
    spec = ProfileSpec(model=f"/nowhere/{label}.onnx", model_sha256="0" * 64, model_label=label)
    return {"spec": spec.to_dict(), "budget": Budget(max_time_s=0.05).to_dict()}


def test_segfault_is_recorded_with_its_signal(misbehaving_python: str) -> None:
    out = run_isolated(_request("crashme"), python=misbehaving_python, timeout=60)
    assert out.status == "failed" and out.signal == "SIGSEGV" and out.exit_code == -11
    assert "crashed with SIGSEGV" in out.error


def test_abort_is_recorded_with_its_signal(misbehaving_python: str) -> None:
    out = run_isolated(_request("abortme"), python=misbehaving_python, timeout=60)
    assert out.status == "failed" and out.signal == "SIGABRT"


def test_hang_is_killed_at_the_timeout(misbehaving_python: str) -> None:
    out = run_isolated(_request("hangme"), python=misbehaving_python, timeout=1.5)
    assert out.status == "failed" and out.signal == "timeout"
    assert "hung" in out.error and 1.5 <= out.wall_s < 10


def test_missing_model_file_is_a_failed_record(misbehaving_python: str) -> None:
    out = run_isolated(_request("plain"), python=misbehaving_python, timeout=60)
    assert out.status == "failed" and "not found" in out.error


def test_missing_or_broken_interpreter_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot start the worker interpreter"):
        run_isolated(_request("x"), python=str(tmp_path / "no-python"))
    with pytest.raises(TargetError, match="cannot run the interpreter"):
        worker_environment(str(tmp_path / "no-python"))
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'No module named ortkit' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(TargetError, match="ortkit is not installed under"):
        worker_environment(str(fake))


def test_environment_of_another_interpreter_comes_from_that_interpreter(misbehaving_python: str) -> None:
    env = worker_environment(misbehaving_python)
    assert "CPUExecutionProvider" in env["execution_providers"] and len(env["key"]) == 16
