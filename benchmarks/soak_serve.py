"""Soak of `ortkit serve`: the real server process, 8 client threads sending mixed shapes to two
models for a given duration, with the server's RSS sampled. The server-side counterpart of
soak_runtime.py (same GRU and LSTM classifiers, hidden 64, 16 features, built with onnx.helper).

Each client picks a model, a batch (1..16) and a length (1..400) at random for every request
(JSON tensors, the KServe v2 REST protocol), so the server's batcher and onnxruntime's arena see
ever-changing shapes; every answer's shape is checked.

    python benchmarks/soak_serve.py --minutes 30 [--clients 8] [--warmup-minutes 2] [--every 15]

Output: one line per RSS sample (``t_s rss_mib requests``) and a final JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak_runtime import recurrent_classifier  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(models: dict[str, Path], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from ortkit.cli import main; main()", "serve",
           *(f"{name}={path}" for name, path in models.items()),
           "--host", "127.0.0.1", "--port", str(port), "--max-batch", "16", "--max-delay-ms", "1", "--threads", "1"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):  # bounded: about 60 s
        if process.poll() is not None:
            raise RuntimeError(f"ortkit serve exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("ortkit serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between RSS samples")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ortkit-soak-serve-"))
    models = {}
    for op in ("GRU", "LSTM"):
        models[op.lower()] = folder / f"{op.lower()}.onnx"
        models[op.lower()].write_bytes(recurrent_classifier(op))
    port = _free_port()
    server = start_server(models, port)
    stop = threading.Event()
    counts = [0] * args.clients
    errors: list[str] = []

    def client(index: int) -> None:
        rng = np.random.default_rng(index)
        names = list(models)
        while not stop.is_set():
            name = names[int(rng.integers(len(names)))]
            batch, steps = int(rng.integers(1, 17)), int(rng.integers(1, 401))
            x = rng.standard_normal((batch, steps, 16)).astype(np.float32)
            body = json.dumps({"inputs": [{"name": "x", "shape": [batch, steps, 16], "datatype": "FP32",
                                           "data": x.ravel().tolist()}]}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{name}/infer", data=body,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
                shape = answer["outputs"][0]["shape"]
                if shape != [batch, 4]:
                    errors.append(f"bad output shape {shape} for batch {batch}")
            except (OSError, ValueError, KeyError) as error:  # a soak counts failures instead of stopping
                errors.append(f"{type(error).__name__}: {error}")
                continue
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    samples: list[tuple[float, float, int]] = []
    end = start + args.minutes * 60
    try:
        while time.monotonic() < end:
            time.sleep(min(args.every, max(0.0, end - time.monotonic())))
            sample = (round(time.monotonic() - start, 1), round(rss_mib(server.pid), 1), sum(counts))
            samples.append(sample)
            print(*sample, flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=130)
        server.terminate()
        server.wait(30)

    after_warmup = [s for s in samples if s[0] >= args.warmup_minutes * 60]
    base = after_warmup[0][1] if after_warmup else samples[0][1]
    final = samples[-1][1]
    peak = max(s[1] for s in after_warmup or samples)
    print(json.dumps({
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "clients": args.clients,
        "minutes": args.minutes,
        "requests": sum(counts),
        "errors": len(errors),
        "first_errors": errors[:3],
        "rss_first_mib": samples[0][1],
        "rss_after_warmup_mib": base,
        "rss_end_mib": final,
        "rss_peak_after_warmup_mib": peak,
        "growth_after_warmup_pct": round(100 * (final - base) / base, 2),
        "peak_growth_after_warmup_pct": round(100 * (peak - base) / base, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
