"""Execution-provider specs: parsing, the "auto" order, plugin EP libraries, and the checks that
the EP asked for is the one running.

A spec is a short lower-case name with an optional ``:suffix``: ``"cpu"``, ``"cuda:1"``,
``"openvino:GPU"``, ``"tensorrt"``, ``"directml:0"``, ``"coreml"``, a full onnxruntime name such
as ``"CUDAExecutionProvider"``, or the name under which a plugin EP library was registered
(``ep_library={"name": path}``), optionally ``"name:<index>"`` or ``"name:<device type>"``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort

from ortkit.base import UsageError
from ortkit.runtime._errors import ProviderUnavailable

__all__ = [
    "AUTO_ORDER", "ProviderChoice", "available_providers", "resolve_providers", "check_assignment",
    "EP_ALIASES", "provider_name", "short_ep_name", "canonical_ep", "is_known_provider",
]

CPU = "CPUExecutionProvider"

# "auto" tries these in order and keeps the first that actually loads (the CPU EP always does).
# Accelerators first; among them TensorRT (fastest when its libraries are present) before CUDA,
# then the vendor EPs; the CPU EP last because it is the fallback for everything.
AUTO_ORDER: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    CPU,
)

ALIASES: dict[str, str] = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
}
SHORT = {name: alias for alias, name in reversed(list(ALIASES.items()))}

# The one table of EP spellings: the profiler, the exporter and every command read it through the
# functions below, so a spelling that works in one command works in all.
EP_ALIASES = ALIASES


def provider_name(spec: str) -> str | None:
    """The onnxruntime provider an EP spec asks for: ``"gpu"`` and ``"cuda:1"`` ->
    ``CUDAExecutionProvider``; None for ``"auto"``; a full provider name or a plugin library's
    registration name is returned as given (whether it exists is decided where it is used),
    unless that library is registered in this process: then it is the EP its chosen devices run
    (``"ov"`` -> ``OpenVINOExecutionProvider``), the name a session reports."""
    base, _, suffix = spec.partition(":")
    if base.lower() == "auto":
        return None
    with _library_lock:
        library = _LIBRARIES.get(base)
    if library is not None:
        try:
            return _plugin_choice(spec, base, suffix, library[1], {}).name
        except ProviderUnavailable:
            return base  # a bad device suffix: refused with its reason when a session is made
    return ALIASES.get(base.lower(), base)


def short_ep_name(provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda``: the spec ortkit shows for a provider (a provider
    without a short name keeps its full name)."""
    return SHORT.get(provider, provider)


def canonical_ep(spec: str) -> str:
    """One spelling per EP: ``"gpu:1"`` -> ``"cuda:1"``, ``"TRT"`` -> ``"tensorrt"``; full names,
    plugin names and ``"auto"`` unchanged. Results keyed by the EP spec then merge across
    spellings."""
    base, sep, suffix = spec.partition(":")
    name = ALIASES.get(base.lower())
    return f"{SHORT[name]}{sep}{suffix}" if name is not None else spec


def is_known_provider(name: str) -> bool:
    """Whether ``name`` is an onnxruntime provider ortkit knows (an alias target or any
    ``*ExecutionProvider``), as opposed to a typo or a plugin registration name."""
    return name in SHORT or name.endswith("ExecutionProvider")


# The option that a ":suffix" sets, per EP.
_SUFFIX_OPTION = {
    "CUDAExecutionProvider": "device_id",
    "TensorrtExecutionProvider": "device_id",
    "DmlExecutionProvider": "device_id",
    "ROCMExecutionProvider": "device_id",
    "MIGraphXExecutionProvider": "device_id",
    "OpenVINOExecutionProvider": "device_type",
}

# Ops that onnxruntime places on the CPU on purpose even when a device EP runs the model: they
# compute shapes and indices, not tensor data. They are "declared" CPU nodes, not a fallback.
SHAPE_OPS = frozenset(
    {
        "Shape", "Size", "Constant", "ConstantOfShape", "Range", "Reshape", "Squeeze", "Unsqueeze",
        "Gather", "Concat", "Slice", "Cast", "Equal", "Where", "Expand", "Identity", "Less",
        "Greater", "Not", "And", "Or", "NonZero", "MemcpyToHost", "MemcpyFromHost",
    }
)

_library_lock = threading.Lock()
# registration name -> (library path, devices that registration added)
_LIBRARIES: dict[str, tuple[str, tuple[Any, ...]]] = {}


@dataclass(frozen=True)
class ProviderChoice:
    """One EP to put in a session: its onnxruntime name, options and, for plugin EPs, devices."""

    spec: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    devices: tuple[Any, ...] = ()

    @property
    def is_plugin(self) -> bool:
        return bool(self.devices)


def available_providers() -> list[str]:
    """The EP specs this onnxruntime build offers, best first in the "auto" order, then any other
    built-in EP (as its full name) and the registered plugin libraries.

    "Offers" means compiled in: an EP listed here can still fail to load (TensorRT without its
    libraries); `Runtime(providers="auto")` tries each and reports what actually runs.
    """
    built = [name for name in ort.get_available_providers() if name != "AzureExecutionProvider"]
    ordered = [name for name in AUTO_ORDER if name in built] + [n for n in built if n not in AUTO_ORDER]
    specs = [SHORT.get(name, name) for name in ordered]
    with _library_lock:
        specs.extend(name for name in _LIBRARIES if name not in specs)
    return specs


def register_libraries(ep_library: Mapping[str, str | os.PathLike[str]] | None) -> None:
    """Register plugin EP libraries once per process; a library that loads but adds no device is
    `ProviderUnavailable`."""
    if not ep_library:
        return
    if not isinstance(ep_library, Mapping):
        raise ProviderUnavailable(f"ep_library must be a dict {{name: library path}}, got {type(ep_library).__name__}")
    for name, path in ep_library.items():
        if not isinstance(name, str) or not name or not isinstance(path, (str, os.PathLike)):
            raise ProviderUnavailable(f"ep_library entry {name!r}: expected a name and a library path, got {path!r}")
        path_str = os.fspath(path)
        with _library_lock:
            known = _LIBRARIES.get(name)
            if known is not None:
                if known[0] != path_str:
                    raise ProviderUnavailable(
                        f"EP library name {name!r} is already registered with {known[0]}; "
                        f"use another name for {path_str}"
                    )
                continue
            if not os.path.isfile(path_str):
                raise ProviderUnavailable(f"EP library {name!r}: no such file {path_str}")
            register = getattr(ort, "register_execution_provider_library", None)
            if register is None:
                raise ProviderUnavailable(
                    f"EP library {name!r}: onnxruntime {ort.__version__} has no plugin EP API "
                    "(register_execution_provider_library needs onnxruntime >= 1.22)"
                )
            before = {id(d) for d in ort.get_ep_devices()}
            before_keys = {_device_key(d) for d in ort.get_ep_devices()}
            try:
                register(name, path_str)
            except Exception as error:  # onnxruntime raises RuntimeError/Fail with its own text
                raise ProviderUnavailable(f"EP library {name!r} ({path_str}) did not load: {error}") from None
            added = tuple(d for d in ort.get_ep_devices() if _device_key(d) not in before_keys and id(d) not in before)
            if not added:
                try:
                    ort.unregister_execution_provider_library(name)
                except Exception:  # nothing to undo if it is already gone
                    pass
                raise ProviderUnavailable(
                    f"EP library {name!r} ({path_str}) loaded but offers no device on this machine, "
                    "so it cannot run anything here"
                )
            _LIBRARIES[name] = (path_str, _in_order(added))


def _device_key(device: Any) -> tuple[Any, ...]:
    hw = device.device
    return (device.ep_name, device.ep_vendor, str(hw.type), hw.vendor_id, hw.device_id)


def _device_type(device: Any) -> str:
    return str(device.device.type).rsplit(".", 1)[-1].upper()


def _in_order(devices: Iterable[Any]) -> tuple[Any, ...]:
    """A plugin's devices in a fixed order, whatever order onnxruntime listed them in (it varies
    between runs): CPU devices first (the kind every machine has, so a bare spec means the same
    on each), then by device type; within a type the library's plain EP before its variants (the
    OpenVINO plugin adds meta devices such as ``OpenVINOExecutionProvider.AUTO`` on the same
    hardware), then by name and hardware ids."""

    def rank(device: Any) -> tuple[Any, ...]:
        kind = _device_type(device)
        hw = device.device
        return (kind != "CPU", kind, "." in device.ep_name, device.ep_name, hw.vendor_id, hw.device_id)

    return tuple(sorted(devices, key=rank))


def resolve_providers(
    providers: str | Iterable[str],
    ep_options: Mapping[str, Mapping[str, Any]] | None = None,
    strict: bool = True,
) -> tuple[list[ProviderChoice], bool]:
    """Turn the user's spec(s) into provider choices, best first.

    Returns the choices and whether they came from "auto". Raises `ProviderUnavailable` for a spec
    this build does not offer at all; with ``strict=False`` such specs are dropped instead (the
    CPU EP remains when nothing else does).
    """
    if ep_options is not None and not isinstance(ep_options, Mapping):
        raise ProviderUnavailable(f"ep_options must be a dict {{spec: {{option: value}}}}, got {type(ep_options).__name__}")
    options = dict(ep_options or {})
    for key, value in options.items():
        if not isinstance(value, Mapping):
            raise ProviderUnavailable(f"ep_options[{key!r}] must be a dict of provider options, got {type(value).__name__}")
    if isinstance(providers, str):
        providers = [providers]
    try:
        specs = list(providers)
    except TypeError:
        raise ProviderUnavailable(
            f"providers must be 'auto', an EP spec or a list of specs, got {type(providers).__name__}"
        ) from None
    if not specs:
        raise ProviderUnavailable("no execution provider given; use 'auto', 'cpu' or a list such as ['cuda', 'cpu']")
    if specs == ["auto"]:
        built = set(ort.get_available_providers())
        choices = [_choice(SHORT.get(n, n), n, None, options) for n in AUTO_ORDER if n in built]
        return choices, True
    if "auto" in specs:
        raise ProviderUnavailable("'auto' cannot be combined with other EP specs")
    choices = [c for c in (_parse(spec, options, strict) for spec in specs) if c is not None]
    seen: dict[str, str] = {}
    for choice in choices:
        if choice.name in seen and not choice.is_plugin:
            # onnxruntime keeps the first and drops the rest with a warning: "cuda:0, cuda:1" is
            # not a fallback from one device to the other.
            raise ProviderUnavailable(
                f"providers name {choice.name} twice ({seen[choice.name]!r} and {choice.spec!r}); a session "
                "takes each EP once"
            )
        seen[choice.name] = choice.spec
    return choices or [ProviderChoice("cpu", CPU)], False


def _parse(spec: str, options: dict[str, Mapping[str, Any]], strict: bool = True) -> ProviderChoice | None:
    if not isinstance(spec, str) or not spec:
        raise ProviderUnavailable(f"EP spec must be a non-empty string, got {spec!r}")
    base, _, suffix = spec.partition(":")
    with _library_lock:
        library = _LIBRARIES.get(base)
    if library is not None:
        return _plugin_choice(spec, base, suffix, library[1], options)
    name = ALIASES.get(base.lower(), base if base.endswith("ExecutionProvider") else None)
    if name is None:
        raise ProviderUnavailable(
            f"unknown EP spec {spec!r}; use one of: auto, {', '.join(sorted(set(ALIASES)))}, a full "
            "onnxruntime name, or a plugin registered with ep_library"
        )
    built = ort.get_available_providers()
    if name not in built:
        if not strict:
            return None
        raise ProviderUnavailable(
            f"EP {spec!r} ({name}) is not in this onnxruntime build ({_distribution()}); it offers "
            f"{', '.join(available_providers())}"
        )
    return _choice(spec, name, suffix or None, options)


def _choice(spec: str, name: str, suffix: str | None, options: Mapping[str, Mapping[str, Any]]) -> ProviderChoice:
    opts: dict[str, Any] = {}
    for key in (name, SHORT.get(name, name), spec):
        opts.update(options.get(key, {}))
    if suffix:
        key = _SUFFIX_OPTION.get(name)
        if key is None:
            raise ProviderUnavailable(f"EP spec {spec!r}: {name} takes no ':{suffix}' suffix")
        if key == "device_id" and not suffix.isdigit():
            raise ProviderUnavailable(f"EP spec {spec!r}: the device index must be a number, got {suffix!r}")
        opts[key] = suffix
    return ProviderChoice(spec=spec, name=name, options={k: str(v) for k, v in opts.items()})


def _plugin_choice(
    spec: str, base: str, suffix: str, devices: tuple[Any, ...], options: Mapping[str, Mapping[str, Any]]
) -> ProviderChoice:
    chosen: tuple[Any, ...]
    devices = _in_order(devices)
    if not suffix:
        chosen = devices[:1]
    elif suffix.isdigit():
        index = int(suffix)
        if index >= len(devices):
            raise ProviderUnavailable(f"EP spec {spec!r}: the library {base!r} offers {len(devices)} device(s)")
        chosen = (devices[index],)
    else:
        chosen = tuple(d for d in devices if _device_type(d) == suffix.upper())
        if not chosen:
            kinds = sorted({_device_type(d) for d in devices})
            raise ProviderUnavailable(f"EP spec {spec!r}: the library {base!r} offers devices of type {', '.join(kinds)}")
    # One session takes the devices of one EP: a library that exposes a device type under two EP
    # names (two plugin EPs for one CPU) gets the first, in the library's fixed device order.
    chosen = tuple(d for d in chosen if d.ep_name == chosen[0].ep_name)
    opts = {k: str(v) for k, v in {**options.get(base, {}), **options.get(spec, {})}.items()}
    return ProviderChoice(spec=spec, name=chosen[0].ep_name, options=opts, devices=chosen)


def _distribution() -> str:
    from importlib import metadata

    for dist in ("onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml", "onnxruntime-qnn", "onnxruntime"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return f"onnxruntime {ort.__version__}"


def check_assignment(
    requested: list[ProviderChoice],
    active: list[str],
    assignment: Mapping[str, int],
) -> str | None:
    """Why an explicit request is not what runs, or None when it is.

    Every requested EP must be active, and the first one must hold nodes. Nodes on the CPU EP are
    allowed when "cpu" was requested too, or when they are shape computations onnxruntime puts
    there on purpose (`cpu_ops` passes the op types found on the CPU EP).
    """
    for choice in requested:
        if choice.name not in active:
            return (
                f"EP {choice.spec!r} ({choice.name}) was requested but did not load; the session runs on "
                f"{', '.join(active)} (pass strict=False to accept that)"
            )
    first = requested[0]
    if assignment and first.name != CPU and assignment.get(first.name, 0) == 0:
        return (
            f"EP {first.spec!r} was requested but got no node; {_describe(assignment)} "
            "(pass strict=False to accept that)"
        )
    return None


def check_cpu_fallback(requested: list[ProviderChoice], cpu_ops: Mapping[str, int]) -> str | None:
    """Nodes that fell back to the CPU although the request did not include it."""
    if any(choice.name == CPU for choice in requested):
        return None
    fallback = {op: n for op, n in cpu_ops.items() if op not in SHAPE_OPS}
    if not fallback:
        return None
    listed = ", ".join(f"{op} x{n}" for op, n in sorted(fallback.items()))
    return (
        f"nodes fell back to the CPU EP although {', '.join(c.spec for c in requested)} was requested: "
        f"{listed} (add 'cpu' to the providers to allow it, or pass strict=False)"
    )


def _describe(assignment: Mapping[str, int]) -> str:
    total = sum(assignment.values()) or 1
    return "nodes: " + ", ".join(f"{ep} {n} ({100 * n / total:.0f}%)" for ep, n in assignment.items())


def parse_ep_libraries(options: Sequence[str]) -> dict[str, str]:
    """``["myep=/opt/libmyep.so"]`` (the CLI's ``--ep-library NAME=PATH``) -> ``{"myep": "/opt/libmyep.so"}``.

    Raises:
        UsageError: an entry is not NAME=PATH, or a name is given twice.
    """
    libraries: dict[str, str] = {}
    for option in options:
        name, sep, path = option.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"--ep-library {option!r}: expected NAME=PATH, e.g. myep=/opt/lib/libmy_ep.so")
        if name in libraries:
            raise UsageError(f"--ep-library names {name!r} twice: give each library its own name")
        libraries[name.strip()] = path.strip()
    return libraries
