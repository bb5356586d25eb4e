"""Writing stored results out as JSONL (everything, raw samples and environment included) or CSV
(one flat row per result: statistics and main metrics), for `ResultStore.export`."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

from ortkit.profiler._result import Result

__all__ = ["export_results"]


def export_results(path: str | os.PathLike[str], fmt: str | None, rows: Sequence[Result]) -> int:
    """Write ``rows`` to ``path`` in ``fmt`` (default: the file suffix); returns how many.

    Raises:
        StoreError: an unknown format.
    """
    from ortkit.profiler._store import StoreError

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt == "jsonl":
        with open(path, "w") as handle:
            for result in rows:
                data = result.to_dict()
                data["environment"] = result.environment.to_dict()
                handle.write(json.dumps(data) + "\n")
    elif fmt == "csv":
        columns = [
            "key", "environment_key", "status", "message", "model_label", "model_sha256", "runner", "ep", "batch",
            "time", "threads", "precision", "chunk", "concurrency", "n", "p50_ms", "mean_ms", "std_ms", "min_ms",
            "p90_ms", "p95_ms", "p99_ms", "max_ms", "iqr_ms", "cv", "ci_low_ms", "ci_high_ms", "unstable",
            "throughput_samples_s", "throughput_timesteps_s", "concurrency_throughput_samples_s",
            "session_create_ms", "first_run_ms", "peak_rss_bytes", "rss_growth_bytes", "gpu_memory_bytes",
            "model_size_bytes", "flops", "gflops_s", "active_providers",
        ]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for result in rows:
                s, m, st = result.spec, result.metrics, result.stats
                row: dict[str, Any] = {
                    "key": result.key, "environment_key": result.environment.key, "status": result.status,
                    "message": result.message, "model_label": s.model_label, "model_sha256": s.model_sha256,
                    "runner": s.runner, "ep": s.ep, "batch": s.batch, "time": s.time, "threads": s.threads,
                    "precision": s.precision, "chunk": s.chunk, "concurrency": s.concurrency,
                    "n": st.n if st else 0, "active_providers": " ".join(m.active_providers),
                }
                if st:
                    for name in ("mean", "std", "min", "p50", "p90", "p95", "p99", "max", "iqr", "ci_low", "ci_high"):
                        row[f"{name}_ms"] = getattr(st, name)
                    row["cv"], row["unstable"] = st.cv, int(st.unstable)
                for name in ("throughput_samples_s", "throughput_timesteps_s", "concurrency_throughput_samples_s",
                             "session_create_ms", "first_run_ms", "peak_rss_bytes", "rss_growth_bytes",
                             "gpu_memory_bytes", "model_size_bytes", "flops", "gflops_s"):
                    row[name] = getattr(m, name)
                writer.writerow(row)
    else:
        raise StoreError(f"unknown export format {fmt!r} for {path}; use .jsonl or .csv")
    return len(rows)
