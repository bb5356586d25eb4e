"""Load test of `ortkit serve` with a real client on loopback: p50/p99 latency and throughput of
the zoo LSTM, GRU and TCN exports at 1, 8, 32 and 128 concurrent clients, with dynamic batching
off (--max-batch 1) and on (--max-batch 32), and a soak at 32 clients that samples the server's
RSS.

The server is the real command (`ortkit serve`, a separate process, 127.0.0.1 only); the client
is aiohttp, each simulated client sending its next request when the previous one is answered
(closed loop), with the binary tensor extension. Every phase is bounded by its duration.

    python benchmarks/serve_load.py --out serve-load [--seconds 5] [--time 100]
    python benchmarks/serve_load.py --out serve-load --soak 600 --models lstm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

CONCURRENCY = (1, 8, 32, 128)
FAMILIES = ("lstm", "gru", "tcn")


def export_models(out: Path, names: list[str]) -> dict[str, Path]:
    """The zoo exports (default hyperparameters), reused when already written."""
    from ortkit.exporter import export

    paths = {}
    for name in names:
        folder = out / "models" / name
        if not (folder / "model.onnx").is_file():
            export(name, folder, seed=0)
        paths[name] = folder / "model.onnx"
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(model: Path, max_batch: int, threads: int) -> Iterator[tuple[str, int]]:
    """`ortkit serve` in its own process; yields (base url, pid)."""
    port = _free_port()
    cmd = [sys.executable, "-c", "from ortkit.cli import main; main()", "serve", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--max-batch", str(max_batch), "--threads", str(threads)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded: about 30 s
            if process.poll() is not None:
                raise RuntimeError(f"ortkit serve exited: {process.stderr.read() if process.stderr else ''}")
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("ortkit serve did not become ready")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)


def request_body(model: Path, batch: int, steps: int) -> tuple[bytes, dict[str, str], str]:
    """One binary-extension infer request for the model's single input, and the model name."""
    from ortkit.runtime import Runtime
    from ortkit.serve import model_label

    (info,) = Runtime(str(model), "cpu").inputs
    shape = [batch if d == "batch" else steps if d == "time" else int(d) for d in info.dims]  # type: ignore[arg-type]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    header = json.dumps({"inputs": [{"name": info.name, "shape": shape, "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))}, model_label(model)


async def _client(session: Any, url: str, body: bytes, headers: dict[str, str], deadline: float,
                  latencies: list[float], failures: list[str]) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}")
                    continue
        except Exception as error:  # counted, never hidden: a failed request is reported
            failures.append(type(error).__name__)
            continue
        latencies.append(time.perf_counter() - started)


async def load(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` closed-loop clients for ``seconds`` (after a 1 s warm-up); latency in ms."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for phase_seconds, keep in ((1.0, False), (seconds, True)):
            latencies: list[float] = []
            failures: list[str] = []
            deadline = time.perf_counter() + phase_seconds
            started = time.perf_counter()
            await asyncio.gather(*(_client(session, url, body, headers, deadline, latencies, failures)
                                   for _ in range(clients)))
            elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed": len(failures),
        "failures": sorted(set(failures)),
        "throughput_rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
    }


def rss_bytes(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


async def soak(url: str, pid: int, body: bytes, headers: dict[str, str], seconds: float, every: float) -> dict[str, Any]:
    """32 clients for ``seconds``; the server's RSS sampled every ``every`` seconds."""
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()

    async def sample() -> None:
        while time.perf_counter() - start < seconds + 1:
            samples.append((time.perf_counter() - start, rss_bytes(pid)))
            await asyncio.sleep(every)

    sampler = asyncio.create_task(sample())
    result = await load(url, body, headers, 32, seconds)
    sampler.cancel()
    rss = [r for _, r in samples]
    # Flatness is judged after the first minute's warm-up (arena growth, first batches).
    settled = [r for t, r in samples if t >= min(60.0, seconds / 4)] or rss
    result.update(rss_first_mb=rss[0] / 2**20, rss_last_mb=rss[-1] / 2**20, rss_min_settled_mb=min(settled) / 2**20,
                  rss_max_settled_mb=max(settled) / 2**20, rss_samples=[(round(t, 1), r) for t, r in samples])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default=",".join(FAMILIES))
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per configuration")
    parser.add_argument("--time", type=int, default=100, help="sequence length of every request")
    parser.add_argument("--batch", type=int, default=1, help="rows per request")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of the server's session")
    parser.add_argument("--clients", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--soak", type=float, default=0.0, help="instead: soak at 32 clients for this many seconds")
    args = parser.parse_args()
    from ortkit.base import cpu_model

    args.out.mkdir(parents=True, exist_ok=True)
    names = args.models.split(",")
    paths = export_models(args.out, names)
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    print(f"machine: {machine}; T={args.time}, rows/request={args.batch}, server threads={args.threads}")
    if args.soak:
        name = names[0]
        body, headers, label = request_body(paths[name], args.batch, args.time)
        with server(paths[name], 32, args.threads) as (url, pid):
            result = asyncio.run(soak(f"{url}/v2/models/{label}/infer", pid, body, headers, args.soak, 10.0))
        result.update(model=name, machine=machine, seconds=args.soak)
        (args.out / f"soak-{name}.json").write_text(json.dumps(result, indent=1))
        growth = result["rss_max_settled_mb"] / result["rss_min_settled_mb"] - 1
        print(f"soak {name} 32 clients {args.soak:.0f}s: {result['requests']} requests, {result['failed']} failed, "
              f"{result['throughput_rps']:.0f} req/s, RSS {result['rss_first_mb']:.1f} -> {result['rss_last_mb']:.1f} MB "
              f"(settled range {growth:+.1%})")
        return
    rows = []
    print("| model | batching | clients | req/s | p50 ms | p99 ms | failed |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        body, headers, label = request_body(paths[name], args.batch, args.time)
        for max_batch in (1, 32):
            with server(paths[name], max_batch, args.threads) as (url, _):
                for clients in map(int, args.clients.split(",")):
                    result = asyncio.run(load(f"{url}/v2/models/{label}/infer", body, headers, clients, args.seconds))
                    result.update(model=name, max_batch=max_batch)
                    rows.append(result)
                    print(f"| {name} | {'on (32)' if max_batch > 1 else 'off'} | {clients} | {result['throughput_rps']:.0f} | "
                          f"{result['p50_ms']:.2f} | {result['p99_ms']:.2f} | {result['failed']} |", flush=True)
    (args.out / "load.json").write_text(json.dumps({"machine": machine, "time": args.time, "rows": rows}, indent=1))
    for name in names:
        by = {(r["max_batch"], r["clients"]): r for r in rows if r["model"] == name}
        if (1, 32) in by and (32, 32) in by and (1, 1) in by:
            speedup = by[(32, 32)]["throughput_rps"] / by[(1, 32)]["throughput_rps"]
            p99 = by[(32, 32)]["p99_ms"] / by[(1, 1)]["p99_ms"]
            print(f"{name}: batching at 32 clients = {speedup:.1f}x the unbatched throughput, "
                  f"p99 {p99:.1f}x the single-client p99")


if __name__ == "__main__":
    main()
