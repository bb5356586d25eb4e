"""Interleaved trials: configurations measured in rounds, side by side, each in its own worker.

A configuration measured in one block of time carries whatever the machine did during that block
(another program, a frequency change, the host's other tenants), and a comparison of two
configurations measured minutes apart carries the drift between them. Here every configuration of
a block (those sharing a shape, so that every comparison the report states is inside one block)
gets its own worker process, which prepares its session once and then answers slices: each round
visits every configuration in a fresh random order for a short slice of samples, so drift hits all
of them alike and two configurations are compared round by round (`ortkit.profiler.paired_ratio`).
Each round's data is stored as soon as the round ends; a killed sweep resumes from it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ortkit.profiler._environment import Environment
from ortkit.profiler._isolation import WORKER_MODULE, _signal_name, _tail
from ortkit.profiler._noise import NoiseWindow, noise_between, sample_noise
from ortkit.profiler._records import ProcessRun, WorkerRequest
from ortkit.profiler._result import Metrics, Result, derive
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._stats import median_ci
from ortkit.profiler._worker import CPUS_ENV, PROTOCOL_PREFIX

__all__ = ["measure_interleaved", "block_key", "IN_PROGRESS", "worker_cpus"]

#: `Metrics.stop_reason` of a row stored after a round while its configuration is still measured
IN_PROGRESS = "rounds-in-progress"
# Workers alive at once: each holds a session (tens of MiB); a bigger block is split.
MAX_BLOCK = 32


def block_key(spec: ProfileSpec) -> tuple[Any, ...]:
    """Configurations that are compared with each other share this: the shape (CNN vs RNN,
    precision, threads, EP, runner all compare at one shape)."""
    return (spec.batch, spec.time, spec.chunk)


def worker_cpus(threads: int | None, available: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(cores for a worker with ``threads`` intra-op threads, cores left for the parent). The
    worker gets the last ``threads`` cores; with no core to spare, everyone shares all of them."""
    cores = tuple(sorted(available))
    if threads is None or threads >= len(cores):
        return cores, cores
    return cores[len(cores) - threads:], cores[: len(cores) - threads]


class _Worker:
    """One serving worker process (`python -m ortkit.profiler._worker --serve`)."""

    def __init__(self, spec: ProfileSpec, budget: Budget, python: str | None, timeout: float, cpus: tuple[int, ...]) -> None:
        self.spec, self.timeout, self.cpus = spec, timeout, cpus
        self.folder = tempfile.TemporaryDirectory(prefix="ortkit-worker-")
        self.stderr = open(Path(self.folder.name) / "stderr.txt", "w+")
        self.buffer = b""
        self.start = time.perf_counter()
        env = {**os.environ, "ORTKIT_WORKER_PARENT": str(os.getpid()), CPUS_ENV: ",".join(map(str, cpus))}
        self.proc = subprocess.Popen([python or sys.executable, "-m", WORKER_MODULE, "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True, cwd=self.folder.name, env=env)
        self._send({"schema": 1, **WorkerRequest(spec, budget).to_dict()})

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any] | None:
        """The next protocol line, or None when the worker died, hung past the timeout, or wrote garbage."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(PROTOCOL_PREFIX):
                    try:
                        payload = json.loads(text[len(PROTOCOL_PREFIX):])
                    except json.JSONDecodeError:
                        return None
                    return payload if isinstance(payload, dict) else None
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.hung = True
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk

    hung = False

    def slice(self, seconds: float, min_runs: int) -> tuple[float, ...] | None:
        try:
            self._send({"slice": seconds, "min_runs": min_runs})
        except (BrokenPipeError, OSError):
            return None
        reply = self.read()
        samples = reply.get("samples") if reply else None
        if not isinstance(samples, list) or not samples:
            return None
        try:
            values = tuple(float(x) for x in samples)
        except (TypeError, ValueError):
            return None
        return values if all(np.isfinite(values)) and min(values) >= 0 else None

    def stop(self) -> bool:
        """Ask the worker to finish (memory, FLOPs, op profile); False when it cannot be told."""
        try:
            self._send({"stop": True})
            return True
        except (BrokenPipeError, OSError):
            return False

    def finish(self, reply: dict[str, Any] | None = None, *, stopped: bool = False) -> ProcessRun:
        """Stop the worker (unless ``stopped``: `stop` was called) and read its final run (or
        describe how it died)."""
        if reply is None and (stopped or self.stop()):
            try:
                reply = self.read()
            except OSError:
                reply = None
        if reply is None or "final" not in reply:
            return self.died()
        try:
            code = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        run = ProcessRun.from_dict(reply["final"])
        self.close()
        return replace(run, exit_code=code, wall_s=time.perf_counter() - self.start)

    def died(self) -> ProcessRun:
        """A failed run saying how the worker ended: hung (killed), crashed with a signal, or exited."""
        if self.hung:
            self.kill()
            message, code, sig = f"worker hung: no answer after {self.timeout:g} s, killed", None, "timeout"
        else:
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                code = None
            sig = _signal_name(-code) if code is not None and code < 0 else None
            self.stderr.seek(0)
            tail = _tail(self.stderr.read())
            message = (f"worker crashed with {sig}" if sig else f"worker exited with code {code} mid-measurement") + (f": {tail}" if tail else "")
        self.close()
        return ProcessRun.failed(message, exit_code=code, signal=sig, wall_s=time.perf_counter() - self.start)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.kill()
        self.stderr.close()
        self.folder.cleanup()


@dataclass
class _State:
    """One configuration of a block: its worker and what its rounds gave so far."""

    spec: ProfileSpec
    env: Environment
    workers: list[_Worker] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    round_p50: list[float] = field(default_factory=list)
    round_ids: list[str] = field(default_factory=list)
    result: Result | None = None

    def converged(self, target: float) -> bool:
        if len(self.round_p50) < 6:
            return False
        low, high = median_ci(self.round_p50)
        middle = float(np.median(self.round_p50))
        return middle > 0 and max(middle - low, high - middle) / middle <= target


def _process_medians(state: _State) -> tuple[float, ...]:
    """Each worker's median over the rounds it served (round n is served by worker n mod P)."""
    count = max(len(state.workers), 1)
    medians = []
    for index in range(count):
        mine = state.round_p50[index::count]
        if mine:
            medians.append(float(np.median(mine)))
    return tuple(medians)


def _metrics(state: _State, base: Metrics, stop: str, noise: NoiseWindow | None) -> Metrics:
    extra: dict[str, Any] = {}
    if noise is not None:
        extra = dict(load_1m=noise.load_1m, cpu_steal=noise.cpu_steal, busy_processes=noise.busy_processes, governor=noise.governor)
    metrics = replace(base, round_p50_ms=tuple(state.round_p50), round_ids=tuple(state.round_ids), stop_reason=stop,
                      process_p50_ms=_process_medians(state), cpu_cores=state.workers[0].cpus if state.workers else (), **extra)
    return derive(state.spec, state.samples, metrics)


def measure_interleaved(
    specs: Sequence[tuple[ProfileSpec, Environment, Result | None]],
    budget: Budget,
    store: Any,
    *,
    python: Callable[[ProfileSpec], str | None],
    timeout: float = 600.0,
    on_start: Callable[[ProfileSpec], None] | None = None,
    on_done: Callable[[Result], None] | None = None,
    seed: int | None = None,
) -> list[Result]:
    """Measure ``specs`` (each with the environment it is stored under and the in-progress row a
    killed sweep left, if any) in interleaved rounds, block by block (`block_key`), storing every
    configuration's row after each round and its final row at the end.

    Returns:
        The final results, in the order of ``specs``.
    """
    rng = np.random.default_rng(seed)
    sweep = uuid.uuid4().hex[:8]
    blocks: dict[tuple[Any, ...], list[_State]] = {}
    for spec, env, prior in specs:
        state = _State(spec, env)
        if prior is not None and prior.ok and prior.metrics.stop_reason == IN_PROGRESS:
            state.samples = list(prior.samples_ms)
            state.round_p50, state.round_ids = list(prior.metrics.round_p50_ms), list(prior.metrics.round_ids)
        blocks.setdefault(block_key(spec), []).append(state)
    states = [s for block in blocks.values() for s in block]
    count = 0
    for block in blocks.values():
        for start in range(0, len(block), MAX_BLOCK):
            # Round ids name the sweep and the block: rounds of different blocks are different times.
            _run_block(block[start : start + MAX_BLOCK], budget, store, python, timeout, on_start, on_done, rng, f"{sweep}.{count}")
            count += 1
    by_spec = {id(s.spec): s.result for s in states}
    return [by_spec[id(spec)] for spec, _, _ in specs]  # type: ignore[misc]


def _finish(state: _State, run: ProcessRun, budget: Budget, store: Any, noise: NoiseWindow | None, stop: str,
            on_done: Callable[[Result], None] | None) -> None:
    if run.status == "ok" and state.samples:
        result = Result(state.spec, state.env, "ok", tuple(state.samples), None, _metrics(state, run.metrics, stop, noise), budget,
                        run.op_profile)
    else:
        status = run.status if run.status != "ok" else "failed"
        result = Result(state.spec, state.env, status, message=run.error or "worker returned no samples",
                        metrics=replace(run.metrics, exit_code=run.exit_code, signal=run.signal, wall_s=run.wall_s), budget=budget)
    store.add(result)
    state.result = result
    if on_done:
        on_done(result)


def _run_block(block: list[_State], budget: Budget, store: Any, python: Callable[[ProfileSpec], str | None], timeout: float,
               on_start: Callable[[ProfileSpec], None] | None, on_done: Callable[[Result], None] | None,
               rng: np.random.Generator, sweep: str) -> None:
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    first = sample_noise()
    live: list[_State] = []
    # Every worker of the block starts at once, and then each one's `ready` is read: starting
    # them one after another cost about a second each (imports, session, warm-up) in sequence,
    # a third of the default study's time. Nothing is timed before the rounds begin.
    for state in block:
        if on_start:
            on_start(state.spec)
        cpus, _ = worker_cpus(state.spec.threads, available)
        # Budget.processes workers per configuration, serving rounds in turn: a process brings
        # its own memory layout and placement, and rotating several spreads that effect over rounds.
        state.workers = [_Worker(state.spec, budget, python(state.spec), timeout, cpus) for _ in range(budget.processes)]
    for state in block:
        for worker in state.workers:
            reply = worker.read()
            if reply is None or not reply.get("ready"):
                run = worker.finish(reply) if reply else worker.died()
                for other in state.workers:
                    if other is not worker:
                        other.close()
                _finish(state, run, budget, store, None, "", on_done)
                break
        else:
            live.append(state)
    # The parent stays off the workers' cores where the machine has cores to spare.
    widest = max((s.spec.threads or len(available) for s in live), default=len(available))
    _, parent_cpus = worker_cpus(widest, available)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, parent_cpus)
    try:
        _rounds(live, budget, store, rng, sweep, on_done)
    finally:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, available)
    noise = noise_between(first, sample_noise())
    finishing = [state for state in live if state.result is None]
    # All workers finish (memory, FLOPs, op profile) at once, as they started.
    stopped = {id(worker): worker.stop() for state in finishing for worker in state.workers}
    for state in finishing:
        stop = "converged" if state.converged(budget.target_rel_ci) else "max_rounds"
        runs = [worker.finish(stopped=stopped[id(worker)]) if stopped[id(worker)] else worker.died() for worker in state.workers]
        failed = next((run for run in runs if run.status != "ok"), None)
        _finish(state, failed or runs[0], budget, store, noise, stop, on_done)


def _rounds(live: list[_State], budget: Budget, store: Any, rng: np.random.Generator, sweep: str,
            on_done: Callable[[Result], None] | None) -> None:
    slice_s = budget.max_time_s / budget.rounds
    min_runs = max(1, min(3, budget.min_runs))
    for number in range(budget.max_rounds):
        active = [s for s in live if s.result is None]
        # The block goes on until every configuration's median is known within the target: a
        # configuration that stopped early would share fewer rounds with the others, and its
        # paired ratios would rest on fewer rounds.
        if not active or (number >= budget.rounds and all(s.converged(budget.target_rel_ci) for s in active)):
            return
        for index in rng.permutation(len(active)):
            state = active[int(index)]
            worker = state.workers[len(state.round_p50) % len(state.workers)]
            samples = worker.slice(slice_s, min_runs)
            if samples is None:
                # A worker that dies mid-way fails its configuration: its samples are never stored as a number.
                state.samples = []
                run = worker.died()
                for other in state.workers:
                    if other is not worker:
                        other.close()
                _finish(state, run, budget, store, None, "", on_done)
                continue
            state.samples.extend(samples)
            state.round_p50.append(float(np.median(samples)))
            state.round_ids.append(f"{sweep}:{number}")
        for state in active:
            if state.result is None:
                # Stored after every round, so a killed sweep keeps (and resumes from) this round.
                store.add(Result(state.spec, state.env, "ok", tuple(state.samples), None,
                                 _metrics(state, Metrics(), IN_PROGRESS, None), budget))
