"""What machine and software a measurement was taken on.

Collected without importing torch (its version comes from package metadata), so the profiler's
worker and `ortkit env` run on machines that have only numpy, onnx and onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ortkit.base import cpu_model

ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml", "onnxruntime-qnn")


@dataclass(frozen=True)
class Environment:
    """The software and hardware one result was measured on. `key` separates results of different
    machines or stacks so they are never merged silently."""

    python: str
    ortkit: str
    numpy: str | None
    onnx: str | None
    torch: str | None
    onnxruntime_distribution: str | None
    onnxruntime: str | None
    os: str
    machine: str
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int | None
    memory_bytes: int | None
    execution_providers: tuple[str, ...] = ()
    ep_devices: tuple[str, ...] = ()
    ep_versions: tuple[tuple[str, str], ...] = ()
    gpus: tuple[str, ...] = ()
    gpu_driver: str | None = None
    git_revision: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> str:
        """A short hash of what makes numbers comparable: hardware and software stack, not the
        git revision of ortkit (a code change is what `ortkit compare` is for)."""
        identity = {
            "python": self.python.split()[0],
            "onnxruntime_distribution": self.onnxruntime_distribution,
            "onnxruntime": self.onnxruntime,
            "os": self.os,
            "machine": self.machine,
            "cpu_model": self.cpu_model,
            "cpu_cores_logical": self.cpu_cores_logical,
            "memory_gib": round((self.memory_bytes or 0) / 2**30),
            "gpus": list(self.gpus),
            "gpu_driver": self.gpu_driver,
            "ep_versions": [list(item) for item in self.ep_versions],
        }
        blob = json.dumps(identity, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = self.key
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("execution_providers", "ep_devices", "gpus"):
            values[name] = tuple(values.get(name) or ())
        for name in ("ep_versions", "extra"):
            values[name] = tuple(tuple(item) for item in values.get(name) or ())
        return cls(**values)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def onnxruntime_distribution() -> tuple[str | None, str | None]:
    """Which onnxruntime distribution provides the `onnxruntime` module here, and its version."""
    for name in ORT_DISTRIBUTIONS:
        version = _version(name)
        if version is not None:
            return name, version
    return None, None


def _memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except ImportError:
        return None


def _gpus() -> tuple[tuple[str, ...], str | None]:
    """GPU names and driver version, through NVML when nvidia-ml-py is installed, else nvidia-smi."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            driver = pynvml.nvmlSystemGetDriverVersion()
            names = []
            for index in range(pynvml.nvmlDeviceGetCount()):
                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
                names.append(name.decode() if isinstance(name, bytes) else str(name))
            return tuple(names), driver.decode() if isinstance(driver, bytes) else str(driver)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - NVML absent or no driver: fall through to nvidia-smi
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return (), None
    rows = [line.split(",") for line in out.strip().splitlines() if line.strip()]
    driver = rows[0][1].strip() if rows and len(rows[0]) > 1 else None
    return tuple(row[0].strip() for row in rows), driver


def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{out}-dirty" if dirty else out or None


def _execution_providers() -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        import onnxruntime as ort
    except ImportError:
        return (), ()
    providers = tuple(ort.get_available_providers())
    devices: list[str] = []
    get_ep_devices = getattr(ort, "get_ep_devices", None)
    if get_ep_devices is not None:
        try:
            for device in get_ep_devices():
                hardware = device.device
                kind = getattr(hardware.type, "name", str(hardware.type))
                devices.append(f"{device.ep_name}:{kind}:{device.ep_vendor}")
        except Exception:  # noqa: BLE001 - a broken plugin must not stop environment collection
            pass
    return providers, tuple(devices)


def _ep_versions(distribution: str | None) -> tuple[tuple[str, str], ...]:
    versions = []
    openvino = _version("openvino")
    if openvino:
        versions.append(("openvino", openvino))
    if distribution == "onnxruntime-gpu":
        for name in ("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "tensorrt"):
            version = _version(name)
            if version:
                versions.append((name, version))
    return tuple(versions)


def collect_environment(with_gpus: bool = True) -> Environment:
    """Describe this process's machine and software stack. Never raises for missing parts."""
    from ortkit.base import ortkit_version

    distribution, ort_version = onnxruntime_distribution()
    providers, devices = _execution_providers()
    gpus, driver = _gpus() if with_gpus else ((), None)
    return Environment(
        python=sys.version.split()[0],
        ortkit=ortkit_version(),
        numpy=_version("numpy"),
        onnx=_version("onnx"),
        torch=_version("torch"),
        onnxruntime_distribution=distribution,
        onnxruntime=ort_version,
        os=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        cpu_model=cpu_model(),
        cpu_cores_logical=os.cpu_count() or 1,
        cpu_cores_physical=_physical_cores(),
        memory_bytes=_memory_bytes(),
        execution_providers=providers,
        ep_devices=devices,
        ep_versions=_ep_versions(distribution),
        gpus=gpus,
        gpu_driver=driver,
        git_revision=_git_revision(),
    )
