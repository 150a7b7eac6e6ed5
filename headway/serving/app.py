"""The prediction server: ``create_app(settings)`` builds a FastAPI app around one model.

Endpoints: ``POST /invocations`` (MLflow scoring protocol), ``GET /health/live``,
``GET /health/ready`` (also ``/ping`` and ``/health``, as MLflow's server), ``GET /version``
and ``GET /metrics`` (Prometheus text format).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from headway._version import __version__
from headway.exceptions import (
    HeadwayError,
    InvalidRequestError,
    RequestTooLargeError,
)
from headway.registry import ModelRegistry
from headway.serving.invocations import STATUS, Invocations, Receive, Scope, Send, error_body
from headway.serving.metrics import ServingMetrics, exposition
from headway.serving.model import ServedModel
from headway.serving.oip import oip_router
from headway.serving.state import ServingState

__all__ = ["SETTINGS_ENV", "ServingSettings", "app_from_environment", "create_app"]

# How ``headway serve --workers N`` hands its settings to the worker processes.
SETTINGS_ENV = "HEADWAY_SERVE_SETTINGS"

logger = logging.getLogger(__name__)

# The error table (shared with the V2 routes).
_STATUS = STATUS


class ServingSettings(BaseModel):
    """What one server instance serves and where it finds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_uri: str = Field(description="models:/NAME@ALIAS or models:/NAME/VERSION")
    # Left out of the repr: a URI may carry a password.
    tracking_uri: str = Field(repr=False)
    registry_uri: str | None = Field(default=None, repr=False)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # The prediction log: a URL (PostgreSQL, s3://...; left out of the repr), or the
    # embedded log in ``log_dir``; no log when both are None.
    log_url: str | None = Field(default=None, repr=False)
    log_dir: str | None = None
    log_fsync: str = "batch"
    batching: bool = Field(default=True, description="Score concurrent requests together.")
    max_batch_rows: int = Field(default=256, gt=0)
    max_wait_ms: float = Field(default=0.0, ge=0, le=100)
    follow_seconds: float = Field(
        default=1.0, ge=0, description="How often an alias is looked up again; 0: never."
    )


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def _error(exc: HeadwayError) -> Response:
    status, content = error_body(exc)
    return Response(content, status_code=status, media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes: from
    ``Content-Length`` before reading, else while streaming (a chunked body).

    Raises:
        RequestTooLargeError: the body is over the limit; the rest of it is never read.
        InvalidRequestError: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidRequestError("the Content-Length header is not a number of bytes")
        if int(declared) > limit:
            raise RequestTooLargeError(
                f"request body of {int(declared)} bytes exceeds the limit of {limit}; "
                "send smaller batches"
            )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeError(
                f"request body exceeds the limit of {limit} bytes; send smaller batches"
            )
    return bytes(body)


def _open_log(settings: ServingSettings) -> Any | None:
    if settings.log_url is None and settings.log_dir is None:
        return None
    from pathlib import Path

    from headway.predictions import open_prediction_log

    root = Path(settings.log_dir) if settings.log_dir is not None else Path(".")
    return open_prediction_log(settings.log_url, root, fsync=settings.log_fsync)


class _ServingApp(FastAPI):
    """FastAPI, with ``POST /invocations`` answered before the middleware stack (see
    :mod:`headway.serving.invocations`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations":
            hot = getattr(self.state, "invocations", None)
            if hot is not None and scope["method"] == "POST":
                await hot.asgi(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: ServingSettings, *, model: ServedModel | None = None, log: Any | None = None
) -> FastAPI:
    """Build the app and load the model now, so that a bad URI fails before serving.

    Args:
        settings: what to serve, and where the prediction log is.
        model: an already loaded model (tests).
        log: an already opened prediction log (else the one ``settings`` names, if any).

    Raises:
        ModelNotFoundError: nothing is registered under ``settings.model_uri``.
        ConfigError: the prediction log's URL is not one headway can use.
    """
    registry = ModelRegistry(settings.tracking_uri, settings.registry_uri)
    served = model or ServedModel.load(settings.model_uri, registry)
    metrics = ServingMetrics.create()
    state = ServingState(
        settings,
        registry,
        metrics,
        served,
        log=log if log is not None else _open_log(settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        follower = asyncio.get_running_loop().create_task(state.follow())
        try:
            yield
        finally:
            follower.cancel()
            await state.close()  # the appends already queued are written first

    app = _ServingApp(
        title="headway prediction server", version=served.version or "", lifespan=lifespan
    )
    app.state.serving = state
    app.state.metrics = metrics

    hot = Invocations(state, metrics, settings.max_body_bytes)
    app.state.invocations = hot
    app.add_api_route("/invocations", hot.route, methods=["POST"])

    app.include_router(oip_router(state))

    @app.get("/health/live")
    async def live() -> Response:
        return _json({"status": "alive"})

    @app.get("/health/ready")
    @app.get("/ping")
    @app.get("/health")
    async def ready() -> Response:
        doc: dict[str, Any] = {"status": "ready", "model": state.scorer.model_doc}
        if state.degraded is not None:
            doc.update(status="degraded", reason=state.degraded)
        return _json(doc)

    @app.get("/version")
    async def version() -> Response:
        return _json({"headway": __version__, "model": state.scorer.model_doc})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``headway serve --workers N``: the settings come
    from :data:`SETTINGS_ENV` (JSON, set by the parent process), the model loads here."""
    import os

    return create_app(ServingSettings.model_validate_json(os.environ[SETTINGS_ENV]))
