"""Run one configuration in a fresh worker process, surviving whatever the worker does.

The parent sends a `WorkerRequest` record and gets a `ProcessRun` record back. A crash
(segfault, abort), a hang (timeout) or a raised exception becomes a ``failed`` run with the signal
or exit code and a one-line message; the caller (the sweep) carries on. ``python``
selects another interpreter, e.g. a target environment with onnxruntime-openvino.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import replace
from typing import Any, Mapping

from ortkit.base import OrtkitError
from ortkit.profiler._limits import LIMIT_ENV, out_of_memory, worker_memory_limit
from ortkit.profiler._records import ProcessRun, WorkerRequest

__all__ = ["run_isolated", "worker_environment", "WORKER_MODULE", "TargetError"]

WORKER_MODULE = "ortkit.profiler._worker"


class TargetError(OrtkitError):
    """A worker interpreter or named target that does not exist, cannot be created, or cannot run
    ortkit's worker at all."""


def _tail(text: str, lines: int = 1) -> str:
    rows = [row.strip() for row in text.strip().splitlines() if row.strip()]
    return " | ".join(rows[-lines:])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_isolated(request: WorkerRequest | Mapping[str, Any], *, python: str | None = None, timeout: float = 600.0) -> ProcessRun:
    """Run ``request`` in ``python -m ortkit.profiler._worker``.

    Args:
        request: the worker request (a `WorkerRequest`, or its ``to_dict()``).
        python: interpreter to run the worker under (default: this one).
        timeout: seconds before the worker is killed and recorded as hung.

    Returns:
        The worker's `ProcessRun`, or a ``failed`` one with ``exit_code``, ``signal`` and
        ``error`` set when the worker died, hung or wrote nothing. ``wall_s`` is always set.
    """
    if not isinstance(request, WorkerRequest):
        request = WorkerRequest.from_dict(request)
    exe = python or sys.executable
    memory = worker_memory_limit(request.spec.ep)
    env = {**os.environ, "ORTKIT_WORKER_PARENT": str(os.getpid())}
    env.pop(LIMIT_ENV, None)
    if memory is not None:
        env[LIMIT_ENV] = str(memory)
    run = _run_worker(request, exe, timeout, env)
    oom = out_of_memory(f"{run.error or ''} {run.traceback or ''}", memory) if run.status == "failed" and run.signal != "timeout" else None
    if oom is not None:
        return replace(run, error=f"{oom} ({run.error})", error_type="OutOfMemory")
    if run.signal == "SIGKILL":
        # Not killed by the parent (a hang is "timeout"): the kernel's OOM killer, or a cgroup's.
        return replace(run, error=f"{run.error} (killed from outside: most likely out of memory)")
    return run


def _run_worker(request: WorkerRequest, exe: str, timeout: float, env: dict[str, str]) -> ProcessRun:
    with tempfile.TemporaryDirectory(prefix="ortkit-worker-") as folder:
        spec_file = Path(folder) / "request.json"
        out_file = Path(folder) / "result.json"
        err_file = Path(folder) / "stderr.txt"
        spec_file.write_text(json.dumps(request.to_dict()))
        start = time.perf_counter()
        with open(err_file, "w") as stderr:
            try:
                # A new session, so a hung worker's own children die with it; started in its own
                # temporary folder, so that `python -m` never imports a source tree from the
                # parent's working directory instead of the installed ortkit.
                proc = subprocess.Popen(
                    [exe, "-m", WORKER_MODULE, "--spec", str(spec_file), "--out", str(out_file)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, cwd=folder,
                    env=env,
                )
            except OSError as error:
                raise TargetError(f"cannot start the worker interpreter {exe}: {error.strerror or error}") from None
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return ProcessRun.failed(f"worker hung: no result after {timeout:g} s, killed", signal="timeout",
                                         wall_s=time.perf_counter() - start)
        wall = time.perf_counter() - start
        stderr_text = err_file.read_text(errors="replace")
        payload: Any = None
        if out_file.is_file():
            try:
                payload = json.loads(out_file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                payload = None
    if code < 0:
        name = _signal_name(-code)
        return ProcessRun.failed(f"worker crashed with {name}" + (f": {_tail(stderr_text)}" if stderr_text.strip() else ""),
                                 exit_code=code, signal=name, wall_s=wall, traceback=_tail(stderr_text, 5) or None)
    if payload is None:
        if "No module named" in stderr_text and "ortkit" in stderr_text:
            raise TargetError(f"ortkit is not installed under {exe}: install it there (pip install 'ortkit[cpu]' or the extra for its onnxruntime)")
        return ProcessRun.failed(f"worker exited with code {code} and wrote no result" + (f": {_tail(stderr_text)}" if stderr_text.strip() else ""),
                                 exit_code=code, wall_s=wall)
    return replace(ProcessRun.from_dict(payload), exit_code=code, wall_s=wall)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


def worker_environment(python: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """The Environment (as a dict) of the interpreter that will run the workers."""
    # Compare without resolving symlinks: every venv's python links to the same binary.
    if python is None or os.path.abspath(python) == os.path.abspath(sys.executable):
        from ortkit.profiler._environment import collect_environment

        return collect_environment().to_dict()
    try:
        done = subprocess.run([python, "-m", WORKER_MODULE, "--environment"], capture_output=True, text=True,
                              timeout=timeout, cwd=tempfile.gettempdir())
    except OSError as error:
        raise TargetError(f"cannot run the interpreter {python}: {error.strerror or error}") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{python} did not describe its environment within {timeout:g} s") from None
    if done.returncode != 0:
        if "No module named" in done.stderr:
            raise TargetError(f"ortkit is not installed under {python}: install it there (pip install 'ortkit[cpu]' or the extra for its onnxruntime)")
        raise TargetError(f"{python} failed to describe its environment: {_tail(done.stderr) or f'exit code {done.returncode}'}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise TargetError(f"{python} printed no environment JSON") from None
