"""Running the app under uvicorn, for `ortkit serve` and scripts."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ortkit.serve._app import app
from ortkit.serve._models import ServeOptions, load_models, oversubscription

__all__ = ["serve_forever"]


def serve_forever(models: Sequence[str | os.PathLike[str]], options: ServeOptions | None = None, *,
                  host: str = "127.0.0.1", port: int = 8000, graceful_s: float = 30.0,
                  announce: Callable[[str], None] = print,
                  ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Load the models and serve them until SIGINT/SIGTERM, then stop accepting, finish the
    requests in flight (at most ``graceful_s`` seconds) and return.

    ``announce`` gets the human-readable lines; ``ready``, when given, gets instead one record of
    what is served (url, and per model its name, file, kind and EPs) before the server starts.

    Raises:
        ServeError, ModelRejected, ProviderUnavailable: a model cannot be served.
    """
    import uvicorn

    options = options or ServeOptions()
    loaded = load_models(models, options)
    advice = oversubscription(len(loaded) * options.instances, options.threads)
    if advice:
        announce(f"warning: {advice}")
    served = []
    for model in loaded:
        kind = "streaming" if model.streaming else ("batched" if model.batchable and options.max_batch > 1 else "unbatched")
        tuned = model.runtime.tuned.describe() if model.runtime.tuned is not None else None
        served.append({"name": model.name, "path": str(model.path), "kind": kind, "providers": list(model.runtime.providers),
                       "tuned": tuned})
        where = f"WebSocket /v2/models/{model.name}/stream" if model.streaming else ""
        if ready is None:
            announce(f"serving {model.name} ({model.path}; {kind}{', ' + where if where else ''}) on {', '.join(model.runtime.providers)}"
                     + (f"; tuned: {tuned}" if tuned else ""))
    if ready is not None:
        ready({"url": f"http://{host}:{port}/v2", "metrics": f"http://{host}:{port}/metrics", "models": served})
    else:
        announce(f"listening on http://{host}:{port}/v2 (metrics: /metrics); Ctrl-C stops")
    with warnings.catch_warnings():  # announced above
        warnings.simplefilter("ignore", RuntimeWarning)
        application = app(loaded, options)
    config = uvicorn.Config(application, host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=graceful_s, ws=websocket_protocol())
    with _signals_end_quietly():
        uvicorn.Server(config).run()
    if ready is None:
        announce("stopped")


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn drains on SIGINT/SIGTERM, then raises the signal again to the handler that was
    there before it; a no-op handler there makes a drained server exit 0, not die by the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def websocket_protocol() -> str:
    """uvicorn's sans-I/O websockets protocol where this uvicorn has it: its legacy one warns
    under websockets >= 14."""
    from uvicorn.config import WS_PROTOCOLS

    return "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "auto"
