"""Dynamic batching: concurrent requests for one model run as one call along the batch axis.

Requests are grouped by everything but the batch axis (each input's other dims and dtype), so
sequences of different lengths never share a run: padding a recurrent model's time axis would
change its outputs, and the exports carry no sequence lengths to mask it. The batched outputs are
split back per request along each output's batch axis.

While every instance is busy, requests queue; the next free instance takes what queued (up to
``max_batch`` rows), waiting at most ``max_delay_ms`` for more. With ``max_batch=1`` every request
runs alone, through the same queue.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ortkit.base import OrtkitError

from ortkit.serve._models import ServedModel, ServeOptions

__all__ = ["Batcher", "BatchStats"]


@dataclass(frozen=True)
class BatchStats:
    """What one request went through: seconds queued, and the rows of the run it joined."""

    queue_s: float
    batch_rows: int


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    key: tuple[Any, ...]
    future: asyncio.Future[tuple[dict[str, np.ndarray], BatchStats]]
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """One model's queue and its instances. Start with `start`, stop with `stop` (which lets
    queued requests finish)."""

    def __init__(self, model: ServedModel, options: ServeOptions,
                 on_batch: Callable[[str, int], None] = lambda name, rows: None) -> None:
        self.model = model
        self._options = options
        self._max_rows = options.max_batch if model.batchable else 1
        self._axes = dict(model.batch_axes)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._slots = asyncio.Semaphore(options.instances)
        self._pool = ThreadPoolExecutor(options.instances, thread_name_prefix=f"ortkit-serve-{model.name}")
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._on_batch = on_batch
        self._held: deque[_Pending] = deque()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish what is queued and running, then stop the loop and the threads."""
        while not self._queue.empty() or self._running or self._held:
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    async def submit(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], BatchStats]:
        """Queue one request; returns its outputs and what it went through.

        Raises:
            InputError, RunFailed: from the runtime, for this request's inputs.
        """
        rows, key = self._signature(inputs)
        future: asyncio.Future[tuple[dict[str, np.ndarray], BatchStats]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(inputs, rows, key, future))
        return await future

    def _signature(self, inputs: dict[str, np.ndarray]) -> tuple[int, tuple[Any, ...]]:
        if self._max_rows == 1:
            return 1, ()
        rows: set[int] = set()
        key = []
        for name in sorted(inputs):
            array = inputs[name]
            axis = self._axes.get(name)
            if axis is None or axis >= array.ndim:
                return 1, ("alone", id(array))  # the runtime will say what is wrong with it
            rows.add(array.shape[axis])
            key.append((name, array.dtype.str, array.shape[:axis] + array.shape[axis + 1:]))
        if len(rows) != 1 or 0 in rows:
            return 1, ("alone", id(inputs))
        return rows.pop(), tuple(key)

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()
            first = self._held.popleft() if self._held else await self._queue.get()
            batch, rows = [first], first.rows
            # Requests of other shapes wait in `_held`, in arrival order, and lead the next runs:
            # stopping at the first other shape would let alternating lengths defeat batching.
            waiting, self._held = self._held, deque()
            for item in waiting:
                rows = self._take(batch, rows, item)
            deadline = first.queued + self._options.max_delay_ms / 1000
            while rows < self._max_rows:
                item = self._next_nowait()
                if item is None:
                    wait = deadline - time.perf_counter()
                    if wait <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), wait)
                    except asyncio.TimeoutError:
                        break
                rows = self._take(batch, rows, item)
            task = asyncio.get_running_loop().create_task(self._dispatch(batch, rows))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take(self, batch: list[_Pending], rows: int, item: _Pending) -> int:
        """Add ``item`` to ``batch`` when it has the batch's shape and fits; otherwise hold it."""
        if item.key == batch[0].key and rows + item.rows <= self._max_rows:
            batch.append(item)
            return rows + item.rows
        self._held.append(item)
        return rows

    def _next_nowait(self) -> _Pending | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def _dispatch(self, batch: list[_Pending], rows: int) -> None:
        try:
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            try:
                results: list[Any] = await loop.run_in_executor(self._pool, self._run_batch, batch)
            except Exception as error:  # a bug: every request of the run hears of it, none hangs
                results = [error] * len(batch)
            self._on_batch(self.model.name, rows)
            for item, result in zip(batch, results):
                if item.future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result((result, BatchStats(started - item.queued, rows)))
        finally:
            self._slots.release()

    def _run_batch(self, batch: list[_Pending]) -> list[dict[str, np.ndarray] | BaseException]:
        run = self.model.runtime.run
        if len(batch) == 1:
            return [_attempt(run, batch[0].inputs)]
        joined = {
            name: np.concatenate([item.inputs[name] for item in batch], axis=self._axes[name])  # type: ignore[arg-type]
            for name in batch[0].inputs
        }
        try:
            outputs = run(joined)
        except OrtkitError:
            # A value-dependent rejection or failure (same shapes, so it is one request's data):
            # run each alone, so only the bad request fails.
            return [_attempt(run, item.inputs) for item in batch]
        bounds = np.cumsum([item.rows for item in batch])[:-1]
        split = {name: np.split(value, bounds, axis=self._axes[name]) for name, value in outputs.items()}  # type: ignore[arg-type]
        return [{name: parts[i] for name, parts in split.items()} for i in range(len(batch))]


def _attempt(run: Callable[[Any], dict[str, np.ndarray]], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | BaseException:
    try:
        return run(inputs)
    except Exception as error:  # handed to the request's future, raised there
        return error
