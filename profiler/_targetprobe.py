"""Probing a target: run its interpreter on a small script (never importing anything of it here)
and read back its onnxruntime distribution, version, EPs and whether ortkit's worker can run there.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ortkit.profiler._isolation import TargetError

__all__ = ["Probe", "probe"]


def _short(provider: str) -> str:
    """The EP spec ortkit shows for an onnxruntime provider name (the runtime's one table)."""
    from ortkit.runtime import short_ep_name

    return short_ep_name(provider)


_PROBE_TIMEOUT_S = 120.0
_PROBE_SCRIPT = r"""
import json, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
out = {"python": sys.version.split()[0], "executable": sys.executable, "prefix": sys.prefix}
dists = [(n, version(n)) for n in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino",
                                    "onnxruntime-directml", "onnxruntime-qnn")]
out["distributions"] = [[n, v] for n, v in dists if v]
out["numpy"] = version("numpy")
out["onnx"] = version("onnx")
out["ortkit"] = version("ortkit")
out["torch"] = version("torch")
try:
    import onnxruntime as ort
    out["onnxruntime"] = ort.__version__
    out["providers"] = list(ort.get_available_providers())
except Exception as error:  # a broken install is reported, not raised
    out["onnxruntime"] = None
    out["providers"] = []
    out["import_error"] = f"{type(error).__name__}: {error}"
try:
    import importlib.util
    spec = importlib.util.find_spec("ortkit.runtime")
    out["ortkit_runtime"] = spec.origin if spec else None
except Exception as error:
    out["ortkit_runtime"] = None
print("ORTKIT-PROBE " + json.dumps(out))
"""


@dataclass(frozen=True)
class Probe:
    """What a target's interpreter reported about itself."""

    python_version: str
    executable: str
    prefix: str
    distribution: str | None
    onnxruntime: str | None
    providers: tuple[str, ...]
    ortkit: str | None
    numpy: str | None
    onnx: str | None
    torch: str | None
    conflicting_distributions: tuple[str, ...] = ()
    import_error: str | None = None
    ortkit_runtime: str | None = None

    @property
    def eps(self) -> tuple[str, ...]:
        """The available EPs as ortkit's short specs (`openvino`, `cuda`, `tensorrt`, `cpu`)."""
        return tuple(_short(name) for name in self.providers)

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the profiler's worker could not run under this interpreter (empty when it can)."""
        found = []
        if self.conflicting_distributions:
            found.append(
                f"it has several onnxruntime distributions installed ({', '.join(self.conflicting_distributions)}), "
                "which break each other; keep exactly one"
            )
        if self.distribution is None:
            found.append("it has no onnxruntime")
        elif self.onnxruntime is None:
            found.append(f"onnxruntime does not import ({self.import_error})")
        for name in ("numpy", "onnx"):
            if getattr(self, name) is None:
                found.append(f"it has no {name}")
        if self.ortkit is None or self.ortkit_runtime is None:
            found.append("ortkit is not installed in it")
        return tuple(found)



# ---------------------------------------------------------------------------------------- probing


def probe(python: str | os.PathLike[str]) -> Probe:
    """Run ``python`` on a small script and report its onnxruntime distribution, version and EPs.

    Args:
        python: path of an interpreter.

    Returns:
        What that interpreter reports about itself.

    Raises:
        TargetError: the path is not an executable Python interpreter.
    """
    path = Path(python).expanduser()
    if not path.exists():
        raise TargetError(f"no interpreter at {path}: pass the path of an environment's python (e.g. .venv/bin/python)")
    if path.is_dir() or not os.access(path, os.X_OK):
        raise TargetError(f"{path} is not an executable file: pass the path of an environment's python")
    # A clean environment: PYTHONPATH/PYTHONHOME of this process must not leak into the probed one.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    try:
        done = subprocess.run(
            [str(path), "-c", _PROBE_SCRIPT], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, env=env,
            cwd=tempfile.gettempdir(),  # `-c` puts the working directory first on sys.path
        )
    except subprocess.TimeoutExpired:
        raise TargetError(f"{path} did not answer within {_PROBE_TIMEOUT_S:.0f} s") from None
    except OSError as error:
        raise TargetError(f"cannot run {path}: {error.strerror or error}") from None
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("ORTKIT-PROBE ")), None)
    if done.returncode != 0 or line is None:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"{path} is not a working Python 3 interpreter ({detail})")
    data = json.loads(line[len("ORTKIT-PROBE "):])
    distributions = [tuple(item) for item in data.get("distributions") or []]
    return Probe(
        python_version=data["python"],
        executable=data["executable"],
        prefix=data["prefix"],
        distribution=distributions[0][0] if distributions else None,
        onnxruntime=data.get("onnxruntime"),
        providers=tuple(data.get("providers") or ()),
        ortkit=data.get("ortkit"),
        numpy=data.get("numpy"),
        onnx=data.get("onnx"),
        torch=data.get("torch"),
        conflicting_distributions=tuple(name for name, _ in distributions) if len(distributions) > 1 else (),
        import_error=data.get("import_error"),
        ortkit_runtime=data.get("ortkit_runtime"),
    )


