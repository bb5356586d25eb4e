"""The same serving app as a Ray Serve deployment: each replica builds `ortkit.serve.app` (its own
sessions and dynamic batcher) behind Ray's HTTP proxy.

From Python::

    from ray import serve
    from ortkit.serve import ServeOptions
    from ortkit.serve.ray import deployment

    serve.run(deployment(["lstm/model.onnx"], ServeOptions(threads=1), replicas=2), route_prefix="/")

From the shell (Ray's own command, with this module's application builder)::

    serve run ortkit.serve.ray:build_app models=lstm/model.onnx replicas=2 threads=1

Each replica reserves ``num_cpus`` = intra-op threads x instances x models, so Ray does not place
more replicas on a node than its cores can run without contention.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ortkit.serve._errors import ServeError
from ortkit.serve._models import ServeOptions, oversubscription

__all__ = ["build_app", "deployment", "replica_cpus"]


def replica_cpus(options: ServeOptions, models: int) -> float:
    """CPUs one replica keeps busy: every model's instances, each with its intra-op threads
    (onnxruntime's default, one per core, counts as all cores)."""
    threads = options.threads or os.cpu_count() or 1
    return float(threads * options.instances * models)


def deployment(models: Sequence[str | os.PathLike[str]], options: ServeOptions | None = None, *,
               replicas: int = 1, num_cpus: float | None = None, name: str = "ortkit") -> Any:
    """A bound Ray Serve application serving ``models`` with ``replicas`` replicas.

    Args:
        models: model files (``PATH`` or ``NAME=PATH``), readable on every node that runs a
            replica (paths are resolved here, on the driver).
        options: as for `ortkit.serve.app`; set ``threads`` so that ``num_cpus`` is meaningful.
        replicas: Ray Serve replicas.
        num_cpus: CPUs Ray reserves per replica (default: `replica_cpus`).
        name: the deployment's name.

    Returns:
        A ``ray.serve.Application`` for ``serve.run``.

    Raises:
        ServeError: no models or a bad replica count.
    """
    from ray import serve

    options = options or ServeOptions()
    paths = [_absolute(m) for m in models]
    if not paths:
        raise ServeError("no model to serve; pass at least one MODEL.onnx")
    if not isinstance(replicas, int) or replicas < 1:
        raise ServeError(f"replicas must be a positive integer, got {replicas!r}")
    cpus = replica_cpus(options, len(paths)) if num_cpus is None else num_cpus
    advice = oversubscription(len(paths) * options.instances, options.threads, replicas=replicas)
    if advice:
        warnings.warn(advice, RuntimeWarning, stacklevel=2)

    @serve.ingress(None)
    class OrtkitReplica:
        def __init__(self, paths: list[str], options: ServeOptions) -> None:
            self._paths = paths
            self._options = options

        def __serve_build_asgi_app__(self) -> Any:
            from ortkit.serve._app import app

            with warnings.catch_warnings():  # warned once, on the driver
                warnings.simplefilter("ignore", RuntimeWarning)
                return app(self._paths, self._options)

    wrapped = serve.deployment(OrtkitReplica, name=name, num_replicas=replicas, ray_actor_options={"num_cpus": cpus})
    return wrapped.bind(paths, options)


def build_app(args: Mapping[str, str]) -> Any:
    """Application builder for ``serve run ortkit.serve.ray:build_app models=A.onnx,B.onnx
    [replicas=N] [threads=N] [instances=N] [max_batch=N] [max_delay_ms=F] [tuned=P.json,Q.json]``."""
    known = {"models", "replicas", "threads", "instances", "max_batch", "max_delay_ms", "tuned"}
    unknown = sorted(set(args) - known)
    if unknown or "models" not in args:
        raise ServeError(f"build_app takes {', '.join(sorted(known))} (models is required); got {', '.join(sorted(args))}")
    try:
        options = ServeOptions(
            threads=int(args["threads"]) if "threads" in args else None,
            instances=int(args.get("instances", 1)),
            max_batch=int(args.get("max_batch", 32)),
            max_delay_ms=float(args.get("max_delay_ms", 0.0)),
            # Replicas may start in another folder: the profiles travel as absolute paths.
            tuned=tuple(os.path.abspath(p) for p in args["tuned"].split(",")) if args.get("tuned") else (),
        )
        replicas = int(args.get("replicas", 1))
    except ValueError as error:
        raise ServeError(f"build_app: {error}") from None
    return deployment(args["models"].split(","), options, replicas=replicas)


def _absolute(model: str | os.PathLike[str]) -> str:
    text = os.fspath(model)
    name, sep, path = text.partition("=")
    if sep and not os.path.exists(text):
        return f"{name}={os.path.abspath(path)}"
    return os.path.abspath(text)
