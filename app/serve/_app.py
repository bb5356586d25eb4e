"""The ASGI application: the Open Inference Protocol (KServe v2 REST) over `Runtime`, with dynamic
batching, WebSocket streaming sessions and Prometheus metrics."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ortkit.base import OrtkitError, ortkit_version

from ortkit.serve._batcher import Batcher
from ortkit.serve._codec import HEADER_LENGTH, decode_request, encode_response
from ortkit.serve._errors import BadRequest, UnknownModel
from ortkit.serve._metrics import CONTENT_TYPE, Metrics
from ortkit.serve._models import ServedModel, ServeOptions, load_models, oversubscription
from ortkit.serve._streams import StreamSessions

__all__ = ["app"]


def app(models: Iterable[str | os.PathLike[str] | ServedModel], options: ServeOptions | None = None) -> Starlette:
    """The serving application, to run under any ASGI server or mount in your own.

    Args:
        models: model files (``PATH`` or ``NAME=PATH``; the name defaults to the export label,
            see `model_label`) or already loaded `ServedModel` records.
        options: batching, instances, threads, streaming limits (`ServeOptions`).

    Returns:
        A Starlette application. Its batchers start and stop with the application's lifespan, so
        the ASGI server must run lifespan events (uvicorn does by default).

    Raises:
        ServeError, ModelRejected, ProviderUnavailable: a model cannot be served.
    """
    options = options or ServeOptions()
    given = list(models)
    files = [m for m in given if not isinstance(m, ServedModel)]
    loaded = [m for m in given if isinstance(m, ServedModel)] + list(load_models(files, options) if files else ())
    advice = oversubscription(len(loaded) * options.instances, options.threads)
    if advice:
        warnings.warn(advice, RuntimeWarning, stacklevel=2)
    return _Server(tuple(loaded), options).starlette


class _Server:
    def __init__(self, models: Sequence[ServedModel], options: ServeOptions) -> None:
        self.models = {m.name: m for m in models}
        self.options = options
        self.metrics = Metrics()
        self.batchers: dict[str, Batcher] = {}
        self.streams = StreamSessions(options, self.metrics)
        self.ready = False
        infer = self.infer
        routes = [
            Route("/v2", self.server_metadata),
            Route("/v2/health/live", self.live),
            Route("/v2/health/ready", self.health_ready),
            Route("/v2/models", self.list_models),
            Route("/v2/repository/index", self.repository_index, methods=["POST"]),
            Route("/v2/models/{name}", self.model_metadata),
            Route("/v2/models/{name}/versions/{version}", self.model_metadata),
            Route("/v2/models/{name}/ready", self.model_ready),
            Route("/v2/models/{name}/versions/{version}/ready", self.model_ready),
            Route("/v2/models/{name}/infer", infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
            WebSocketRoute("/v2/models/{name}/stream", self.stream),
            Route("/metrics", self.prometheus),
        ]
        self.starlette = Starlette(routes=routes, lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        for model in self.models.values():
            batcher = Batcher(model, self.options, self.metrics.batch)
            batcher.start()
            self.batchers[model.name] = batcher
        self.ready = True
        try:
            yield
        finally:
            # The ASGI server has stopped accepting and finished its in-flight requests; the
            # batchers still finish anything queued before their threads go.
            self.ready = False
            for batcher in self.batchers.values():
                await batcher.stop()

    def _model(self, request: Request | WebSocket) -> ServedModel:
        name = request.path_params["name"]
        model = self.models.get(name)
        version = request.path_params.get("version")
        if model is None or version not in (None, "", "1"):
            raise UnknownModel(
                f"no model {name!r}{f' version {version}' if version else ''}; served: {', '.join(sorted(self.models))}"
            )
        return model

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse({"name": "ortkit", "version": ortkit_version(), "extensions": ["binary_tensor_data"]})

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def health_ready(self, request: Request) -> Response:
        return JSONResponse({"ready": self.ready}, status_code=200 if self.ready else 503)

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"models": [m.metadata() for m in self.models.values()]})

    async def repository_index(self, request: Request) -> Response:
        return JSONResponse([{"name": n, "version": "1", "state": "READY"} for n in self.models])

    async def model_metadata(self, request: Request) -> Response:
        try:
            return JSONResponse(self._model(request).metadata())
        except UnknownModel as error:
            return _error(404, error)

    async def model_ready(self, request: Request) -> Response:
        try:
            self._model(request)
        except UnknownModel as error:
            return _error(404, error)
        return Response(status_code=200 if self.ready else 503)

    async def infer(self, request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["name"]
        try:
            model = self._model(request)
            decoded = decode_request(await request.body(), request.headers.get(HEADER_LENGTH))
            order = _output_order(model, decoded.outputs)
            outputs, stats = await self.batchers[model.name].submit(decoded.inputs)
            body, headers = encode_response(model.name, outputs, order, decoded)
        except UnknownModel as error:
            self.metrics.request(name, 404)
            return _error(404, error)
        except OrtkitError as error:  # InputError, RunFailed, BadRequest: the request's fault
            self.metrics.request(name, 400)
            return _error(400, error)
        self.metrics.queued(name, stats.queue_s)
        self.metrics.request(name, 200, time.perf_counter() - started)
        media = "application/octet-stream" if headers else "application/json"
        return Response(body, media_type=media, headers=headers)

    async def stream(self, websocket: WebSocket) -> None:
        try:
            model = self._model(websocket)
        except UnknownModel as error:
            await websocket.accept()
            await websocket.close(1008, str(error)[:120])
            return
        await self.streams.serve(websocket, model)

    async def prometheus(self, request: Request) -> Response:
        return PlainTextResponse(self.metrics.render(), media_type=CONTENT_TYPE)


def _output_order(model: ServedModel, asked: Sequence[str]) -> list[str]:
    names = [o.name for o in model.runtime.outputs]
    unknown = [n for n in asked if n not in names]
    if unknown:
        raise BadRequest(f"unknown output {', '.join(map(repr, unknown))}; {model.name} has {', '.join(names)}")
    return list(asked) if asked else names


def _error(status: int, error: Exception) -> Response:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return JSONResponse({"error": text}, status_code=status)

