"""`Runtime`: one object that loads a model safely, runs it on the execution provider that was
asked for (and says so), checks inputs, and is safe to share between threads."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from ortkit.runtime._binding import _Binding, _read_assignment
from ortkit.runtime._errors import InputError, ModelRejected, ProviderUnavailable, RunFailed
from ortkit.runtime._limits import THREADS_PER_CORE, check_options
from ortkit.runtime._guard import RecurrentGuard
from ortkit.runtime._inputs import InputPlan, TensorInfo
from ortkit.runtime._providers import (
    CPU,
    ProviderChoice,
    check_assignment,
    check_cpu_fallback,
    register_libraries,
    resolve_providers,
)
from ortkit.runtime._isolate import IsolatedSession
from ortkit.runtime._safe_load import SafeModel, load_model_safely
from ortkit.runtime._tunedopen import open_tuned, refuse_explicit, tuned_ep_options
from ortkit.runtime._tuning import OPTIMIZATION_LEVELS, SessionSettings, SettingsError, TunedChoice, TunedProfile

__all__ = ["Runtime", "OPTIMIZATION_LEVELS", "THREADS_PER_CORE"]



# EPs whose memory is not host memory: their inputs and outputs go through I/O binding.
# value: the OrtValue device name.
DEVICE_EPS = {
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "cuda",
    "ROCMExecutionProvider": "cuda",
    "MIGraphXExecutionProvider": "cuda",
    "DmlExecutionProvider": "dml",
}
_RECORD_ASSIGNMENT = "session.record_ep_graph_assignment_info"
_SHRINK = "memory.enable_memory_arena_shrinkage"


class Runtime:
    """A checked, thread-safe onnxruntime session.

    Args:
        model: path to an ``.onnx`` file, its bytes or an ``onnx.ModelProto`` (give ``base_dir`` for
            external data of the last two).
        providers: ``"auto"`` (the best EP that loads, in `AUTO_ORDER`), one EP spec
            (``"cpu"``, ``"cuda:0"``, ``"openvino:CPU"``, ``"tensorrt"``, a plugin name) or a list
            of specs in preference order.
        threads: intra-op threads; None lets onnxruntime choose (one per physical core).
        optimization: graph optimization level: ``"all"``, ``"extended"``, ``"basic"`` or
            ``"disabled"``.
        base_dir: folder that external data is relative to (default: the model's folder).
        ep_library: plugin EP libraries to register, ``{"name": path}``; their devices become
            specs (``"name"``, ``"name:0"``, ``"name:GPU"``).
        ep_options: provider options per spec or EP name, ``{"cuda": {"arena_extend_strategy":
            "kSameAsRequested"}}``.
        strict: raise `ProviderUnavailable` when an explicitly named EP is not installed, not the
            one running, or nodes fell back to the CPU beyond what was declared. With False, EPs
            missing from the build are skipped and whatever runs is reported by `providers` and
            `node_assignment`. Ignored for ``"auto"``.
        shrink_arena: release the CPU (and device) memory arena after every run (onnxruntime's
            ``memory.enable_memory_arena_shrinkage`` run option), trading some speed for memory
            that returns to its baseline after a large input.
        isolate: hold the onnxruntime session in a child process, so that a kernel that aborts,
            crashes or hangs ends the child, not the application (`RunFailed`, or `ModelRejected`
            while loading); the next `run` starts a new child. For untrusted models. Costs a
            process start and a copy of inputs and outputs per call; calls are served one at a time.
        timeout: with ``isolate``, the seconds one `run` may take before the child is stopped
            (`RunFailed`); None waits for ever.
        settings: the session's tuned settings (`SessionSettings`: threads, execution mode,
            spinning, arena...); give ``threads`` and ``optimization`` inside it, not beside it.
        max_threads: the most intra-op threads accepted (default: `THREADS_PER_CORE` per usable
            core).
        tuned: a tuned profile (its file, or a loaded `TunedProfile`) written by ``ortkit tune``
            for this model on this machine: it sets the EP, its options, the session settings and,
            when another precision won, the variant file that runs. Do not pass ``providers``,
            ``threads``, ``optimization``, ``settings`` or ``ep_options`` with it.
        tuned_shape: the (batch, time) the runtime will mostly run (time None for models without
            a time axis): picks the profile's choice tuned for it (or the nearest); None: the
            profile's first choice.

    Raises:
        ModelRejected: the model is unsafe, unreadable, or onnxruntime cannot load it.
        TunedProfileError: the tuned profile is unreadable, damaged, or its variant file missing.
        TunedProfileMismatch: the tuned profile is for another model or machine, or its variant
            file changed since tuning.
        UsageError: ``tuned`` was combined with explicit EP, options or settings.
        ProviderUnavailable: an EP spec is unknown, not installed, or not the one running; or
            ``threads`` is not a positive integer up to ``max_threads``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes | onnx.ModelProto,
        providers: str | Iterable[str] = "auto",
        threads: int | None = None,
        optimization: str = "all",
        *,
        base_dir: str | os.PathLike[str] | None = None,
        ep_library: Mapping[str, str | os.PathLike[str]] | None = None,
        ep_options: Mapping[str, Mapping[str, Any]] | None = None,
        strict: bool = True,
        shrink_arena: bool = False,
        isolate: bool = False,
        timeout: float | None = None,
        max_threads: int | None = None,
        settings: SessionSettings | None = None,
        tuned: str | os.PathLike[str] | TunedProfile | None = None,
        tuned_shape: tuple[int, int | None] | None = None,
    ) -> None:
        self._tuned: TunedChoice | None = None
        safe: SafeModel | None = None
        if tuned is not None:
            refuse_explicit(providers, threads, optimization, settings, ep_options)
            safe, self._tuned = open_tuned(model, base_dir, tuned, tuned_shape)
            providers, settings, ep_options = self._tuned.ep, self._tuned.settings, tuned_ep_options(self._tuned)
            # A variant file's external data lives beside it, not in the folder given for the model.
            base_dir = base_dir if self._tuned.model_file is None else None
        elif tuned_shape is not None:
            raise SettingsError("tuned_shape= picks a choice of a tuned profile; pass tuned= with it")
        if settings is not None:
            if threads is not None or optimization != "all":
                raise SettingsError("pass threads and optimization inside settings=, not next to it")
            if not isinstance(settings, SessionSettings):
                raise SettingsError(f"settings must be an ortkit.runtime.SessionSettings, got {type(settings).__name__}")
            threads, optimization = settings.threads, settings.optimization
        check_options(optimization, threads, max_threads, OPTIMIZATION_LEVELS)
        self._settings = settings if settings is not None else SessionSettings(threads=threads, optimization=optimization)
        self._safe: SafeModel = safe if safe is not None else load_model_safely(model, base_dir)
        self._where = str(self._safe.path) if self._safe.path else "the model"
        self._closed = False
        self._guard = RecurrentGuard(self._safe.proto, self._where)
        self._isolated: IsolatedSession | None = None
        self._session: Any = None
        if isolate:
            folder = base_dir if base_dir is not None else (self._safe.path.parent if self._safe.path else None)
            options = dict(providers=providers if isinstance(providers, str) else list(providers),
                           settings=self._settings, base_dir=None if folder is None else os.fspath(folder),
                           ep_library=dict(ep_library or {}), ep_options={k: dict(v) for k, v in (ep_options or {}).items()},
                           strict=strict, shrink_arena=shrink_arena, max_threads=max_threads)
            self._isolated = IsolatedSession(self._safe.data, options, self._where, timeout)
            described = self._isolated.description
            self._providers = list(described.providers)
            self._assignment, self._ops_per_ep = described.assignment, described.ops_per_ep
            self._inputs, self._outputs = described.inputs, described.outputs
        else:
            self._open_session(providers, ep_library, ep_options, strict)
        self._output_names = [o.name for o in self._outputs]
        self._plan = InputPlan(self._inputs)
        self._metadata = {p.key: p.value for p in self._safe.proto.metadata_props}
        self._run_options: ort.RunOptions | None = None
        self._device = None if isolate else DEVICE_EPS.get(self._providers[0])
        if shrink_arena and not isolate:
            self._run_options = ort.RunOptions()
            arenas = ["cpu:0"]
            if self._device == "cuda":
                arenas.append(f"gpu:{self._device_id()}")
            self._run_options.add_run_config_entry(_SHRINK, ";".join(arenas))
        self._local = threading.local()
        self._bound_device: tuple[str, int] | None = None
        if self._device is not None:
            self._bound_device = (self._device, self._device_id())

    def _open_session(
        self,
        providers: str | Iterable[str],
        ep_library: Mapping[str, str | os.PathLike[str]] | None,
        ep_options: Mapping[str, Mapping[str, Any]] | None,
        strict: bool,
    ) -> None:
        register_libraries(ep_library)
        choices, auto = resolve_providers(providers, ep_options, strict)
        self._requested = choices
        self._session = self._create_with(choices, auto)
        self._session.disable_fallback()
        self._providers = list(self._session.get_providers())
        self._assignment, self._ops_per_ep = _read_assignment(self._session)
        if strict and not auto:
            problem = check_assignment(choices, self._providers, self._assignment)
            if problem is None and self._assignment:
                problem = check_cpu_fallback(choices, self._ops_per_ep.get(CPU, {}))
            if problem:
                raise ProviderUnavailable(problem)
        graph = self._safe.proto.graph
        unranked = {
            v.name for v in [*graph.input, *graph.output]
            if v.type.HasField("tensor_type") and not v.type.tensor_type.HasField("shape")
        }
        self._inputs = tuple(TensorInfo.from_node_arg(a, a.name not in unranked) for a in self._session.get_inputs())
        self._outputs = tuple(TensorInfo.from_node_arg(a, a.name not in unranked) for a in self._session.get_outputs())
        # The C++ session's run skips the Python wrapper's per-call name validation (the plan has
        # already checked names) and its EP-fallback retry (disabled above anyway).
        raw = getattr(self._session, "_sess", None)
        self._raw_run = raw.run if raw is not None and hasattr(raw, "run") else self._session.run

    # ----------------------------------------------------------------- session creation
    def _options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        self._settings.apply(so)
        # Errors reach the caller as exceptions; onnxruntime's own log lines would only repeat
        # them on stderr (and "auto" expects some EPs to fail while it probes them).
        so.log_severity_level = 4
        try:
            so.add_session_config_entry(_RECORD_ASSIGNMENT, "1")
        except Exception:  # older onnxruntime: no assignment record, node counts stay unknown
            pass
        if self._safe.external_dir is not None:
            # The checked bytes go to onnxruntime, so it must be told where external data lives.
            so.add_session_config_entry(
                "session.model_external_initializers_file_folder_path", str(self._safe.external_dir)
            )
        return so

    def _create(self, choices: list[ProviderChoice]) -> ort.InferenceSession:
        so = self._options()
        providers: list[Any] | None
        if any(c.is_plugin for c in choices):
            for c in choices:
                if c.is_plugin:
                    so.add_provider_for_devices(list(c.devices), dict(c.options))
                elif c.name != CPU:
                    so.add_provider(c.name, dict(c.options))
            providers = None
        else:
            providers = [(c.name, dict(c.options)) for c in choices]
        return ort.InferenceSession(self._safe.data, so, providers=providers, enable_fallback=0)

    def _create_with(self, choices: list[ProviderChoice], auto: bool) -> ort.InferenceSession:
        errors: list[str] = []
        if auto:
            # Try the best EP first, each with the CPU EP behind it; keep the first that is active.
            for choice in choices:
                attempt = [choice] if choice.name == CPU else [choice, ProviderChoice("cpu", CPU)]
                try:
                    session = self._create(attempt)
                except Exception as error:
                    errors.append(f"{choice.name}: {_first_line(error)}")
                    if choice.name == CPU:
                        raise self._rejected(error) from None
                    continue
                if choice.name in session.get_providers():
                    return session
                errors.append(f"{choice.name}: not active after loading")
            raise ModelRejected(f"{self._where}: no execution provider could load it ({'; '.join(errors)})")
        try:
            return self._create(choices)
        except Exception as error:
            if all(c.name == CPU for c in choices):
                raise self._rejected(error) from None
            # Tell a broken EP from a broken model: does the CPU EP load it?
            try:
                self._create([ProviderChoice("cpu", CPU)])
            except Exception:
                raise self._rejected(error) from None
            names = ", ".join(c.spec for c in choices)
            raise ProviderUnavailable(f"EP {names} failed to load the model (the CPU EP can): {_first_line(error)}") from None

    def _rejected(self, error: Exception) -> ModelRejected:
        return ModelRejected(f"onnxruntime cannot load {self._where}: {_first_line(error)}")

    def _device_id(self) -> int:
        options = self._session.get_provider_options().get(self._providers[0], {})
        try:
            return int(options.get("device_id", 0))
        except (TypeError, ValueError):
            return 0

    # ----------------------------------------------------------------- description
    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        """The inputs, in the model's order, with symbolic dims by name."""
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._outputs

    @property
    def settings(self) -> SessionSettings:
        """The session settings this runtime was opened with."""
        return self._settings

    @property
    def tuned(self) -> TunedChoice | None:
        """The tuned profile's choice this runtime runs (None: not tuned), for callers to show."""
        return self._tuned

    @property
    def providers(self) -> list[str]:
        """The EPs the session actually runs with, in priority order (onnxruntime's names)."""
        return list(self._providers)

    @property
    def node_assignment(self) -> dict[str, int]:
        """EP name -> number of nodes of the optimized graph it runs (empty when this
        onnxruntime cannot report it)."""
        return dict(self._assignment)

    @property
    def node_assignment_ops(self) -> dict[str, dict[str, int]]:
        """EP name -> op type -> node count."""
        return {ep: dict(ops) for ep, ops in self._ops_per_ep.items()}

    @property
    def metadata(self) -> dict[str, str]:
        """The model's ``metadata_props`` (what the exporter stored)."""
        return dict(self._metadata)

    @property
    def session(self) -> ort.InferenceSession:
        """The underlying onnxruntime session, for raw comparisons.

        Raises:
            RunFailed: the runtime is closed, or isolated (its session lives in another process).
        """
        if self._session is None:
            state = "closed" if self._closed else "isolated (isolate=True): its session lives in a child process"
            raise RunFailed(f"{self._where}: no in-process session; the runtime is {state}")
        return self._session

    @property
    def model(self) -> Any:
        """The parsed ``onnx.ModelProto`` (external data not loaded)."""
        return self._safe.proto

    def __repr__(self) -> str:
        sig = ", ".join(f"{i.name}: {i.dtype}{i.shape_text()}" for i in self._inputs)
        return f"Runtime({self._where}, providers={self._providers}, inputs=[{sig}])"

    # ----------------------------------------------------------------- running
    def run(self, inputs: Any, *, cast: bool = False, as_tuple: bool = False) -> Any:
        """Run the model.

        Args:
            inputs: a dict ``{name: array}``, one array (single-input models), or a list/tuple of
                arrays in input order. Arrays that are not C-contiguous are copied.
            cast: convert inputs of another dtype instead of raising.
            as_tuple: return a tuple of outputs in the model's order instead of a dict.

        Returns:
            ``{output name: numpy array}`` (or a tuple).

        Raises:
            InputError: a name, dtype, rank or dim does not match the signature, or two inputs
                disagree on a shared symbolic dim.
            RunFailed: onnxruntime failed on inputs that match the signature.
        """
        if self._closed:
            raise RunFailed(f"{self._where}: the runtime is closed; create a new Runtime to run again")
        feed = self._plan.feed(inputs, cast)
        if self._guard.per_call:
            self._guard.check(feed)
        if self._isolated is not None:
            outputs = self._isolated.run(self._output_names, feed)
        else:
            outputs = self._execute(self._output_names, feed)
        if as_tuple:
            return tuple(outputs)
        return dict(zip(self._output_names, outputs))

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        """``rt(x)``, ``rt(x, h)`` or ``rt(x=x)``: the same as `run`."""
        if kwargs:
            if args:
                raise InputError("pass inputs either by position or by name, not both")
            return self.run(kwargs)
        return self.run(args[0] if len(args) == 1 else list(args))

    def _execute(self, output_names: list[str], feed: dict[str, Any]) -> list[Any]:
        """Run a checked feed in this process (also the isolated child's side of `run`)."""
        try:
            if self._bound_device is None:
                return self._raw_run(output_names, feed, self._run_options)  # type: ignore[no-any-return]
            return self._run_bound(feed)
        except Exception as error:
            raise self._run_error(error) from None

    # ----------------------------------------------------------------- life cycle
    def warmup(self, shapes: Mapping[str, Sequence[int] | int] | None = None, runs: int = 1) -> None:
        """Run the model ``runs`` times on random inputs, so that the first real call does not pay
        for onnxruntime's lazy allocations and kernel selection.

        Args:
            shapes: input name -> shape, or symbolic dim -> size (as ``ortkit run --shape``);
                symbolic dims not given are 1.
            runs: how many runs.

        Raises:
            UsageError: a shape is malformed or the random inputs would be too large.
            RunFailed: the runtime is closed or onnxruntime failed.
        """
        from ortkit.runtime._files import random_inputs

        given = dict(shapes or {})
        for info in self._inputs:
            for dim in info.dims:
                if isinstance(dim, str):
                    given.setdefault(dim, 1)
        feed = random_inputs(self._inputs, given, seed=0, unnamed=1)
        for _ in range(max(1, int(runs))):
            self.run(feed)

    def close(self) -> None:
        """Release the session (and stop the isolated process). Later `run` calls raise
        `RunFailed`; closing twice is harmless."""
        self._closed = True
        if self._isolated is not None:
            self._isolated.close()
        self._session = None
        self._raw_run = None
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_error(self, error: Exception) -> Exception:
        text = _first_line(error)
        if type(error).__name__ == "InvalidArgument":
            return InputError(f"onnxruntime rejected the inputs: {text}")
        return RunFailed(f"onnxruntime failed running {self._where}: {text}")

    def _run_bound(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        binding = getattr(self._local, "binding", None)
        if binding is None:
            binding = _Binding(self._session, self._bound_device, self._output_names)  # type: ignore[arg-type]
            self._local.binding = binding
        return binding.run(feed, self._run_options)

    def stream(self, initial_state: Mapping[str, np.ndarray] | None = None) -> Any:
        """A stateful stream over a streaming export (see `Stream`).

        Raises:
            NotStreamable: the model carries no ``ortkit.streaming`` metadata.
        """
        from ortkit.runtime._stream import Stream

        return Stream(self, initial_state)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line[:500]
