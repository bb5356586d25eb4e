"""One Runtime shared by 8 threads x 500 mixed-shape calls returns what single-threaded calls do."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ortkit.runtime import Runtime

THREADS, CALLS = 8, 500


def _cases(seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(CALLS):
        batch, time = int(rng.integers(1, 4)), int(rng.integers(1, 12))
        cases.append({
            "x": rng.standard_normal((batch, time, 5)).astype(np.float32),
            "h": rng.standard_normal((batch, 1, 16)).astype(np.float32),
        })
    return cases


@pytest.mark.parametrize("bound", [False, True], ids=["plain", "io-binding"])
def test_threads_match_single_threaded(models, bound: bool) -> None:
    rt = Runtime(models.gru().SerializeToString(), "cpu", threads=1)
    if bound:
        rt._bound_device = ("cpu", 0)  # per-thread bindings, exercised on the CPU
    work = [_cases(seed) for seed in range(THREADS)]
    expected = [[rt.run(case) for case in cases] for cases in work]

    def worker(index: int) -> list[dict[str, np.ndarray]]:
        return [rt.run(case) for case in work[index]]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for got_list, want_list in zip(results, expected):
        assert len(got_list) == CALLS
        for got, want in zip(got_list, want_list):
            np.testing.assert_array_equal(got["y"], want["y"])
            np.testing.assert_array_equal(got["h_out"], want["h_out"])


def test_one_stream_per_thread_on_a_shared_runtime(models) -> None:
    # Streams hold state, the Runtime under them does not: 8 threads, each with its own stream and
    # its own chunking, all give the offline outputs of their own sequence.
    rt = Runtime(models.gru().SerializeToString(), "cpu", threads=1)
    rng = np.random.default_rng(7)
    sequences = [rng.standard_normal((int(rng.integers(1, 4)), 40, 5)).astype(np.float32) for _ in range(THREADS)]
    offline = [rt.run({"x": x, "h": np.zeros((x.shape[0], 1, 16), np.float32)})["y"] for x in sequences]

    def worker(index: int) -> np.ndarray:
        x, stream, parts, start = sequences[index], rt.stream(), [], 0
        sizes = np.random.default_rng(index).integers(0, 6, size=60)  # 0: empty chunks in between
        for size in sizes:
            if start >= x.shape[1]:
                break
            parts.append(stream.push(x[:, start:start + int(size)])["y"])
            start += int(size)
        if start < x.shape[1]:
            parts.append(stream.push(x[:, start:])["y"])
        return np.concatenate(parts, axis=1)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for got, want in zip(results, offline):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
