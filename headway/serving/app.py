"""The prediction server: ``create_app(settings)`` builds a FastAPI app around one model.

Endpoints: ``POST /invocations`` (MLflow scoring protocol), ``GET /health/live``,
``GET /health/ready`` (also ``/ping`` and ``/health``, as MLflow's server), ``GET /version``,
``GET /metrics`` (Prometheus text format), ``POST /feedback`` (labels, see
:mod:`headway.serving.feedback`), the Open Inference Protocol's ``/v2/...``
(:mod:`headway.serving.oip`) and ``/admin/reload`` and ``/admin/traffic``
(:mod:`headway.serving.admin`); bearer tokens, when configured, guard them
(:mod:`headway.serving.auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from headway._version import __version__
from headway.registry import ModelRegistry
from headway.serving.admin import ModelDoc, admin_router
from headway.serving.auth import (
    AUTH_RESPONSES,
    AuthError,
    Guard,
    auth_error_response,
    document_security,
    require,
    require_for_post,
)
from headway.serving.feedback import feedback_router
from headway.serving.http import json_response
from headway.serving.invocations import Invocations, Receive, Scope, Send
from headway.serving.metrics import ServingMetrics, exposition
from headway.serving.model import ServedModel
from headway.serving.oip import oip_router
from headway.serving.state import ServingState

__all__ = ["SETTINGS_ENV", "ServingSettings", "app_from_environment", "create_app"]

# How ``headway serve --workers N`` hands its settings to the worker processes.
SETTINGS_ENV = "HEADWAY_SERVE_SETTINGS"

logger = logging.getLogger(__name__)


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
    # How often the log is compacted while the server runs (None: only when it stops).
    compact_seconds: float | None = Field(default=None, gt=0)
    batching: bool = Field(default=True, description="Score concurrent requests together.")
    max_batch_rows: int = Field(default=256, gt=0)
    max_wait_ms: float = Field(default=0.0, ge=0, le=100)
    # The control-plane store with the deployment record (left out of the repr); None:
    # no traffic splitting.
    control_db_url: str | None = Field(default=None, repr=False)
    timeout_ms: float | None = Field(
        default=None, gt=0, description="Answer from the fallback after this long; None: wait."
    )
    follow_seconds: float = Field(
        default=1.0, ge=0, description="How often an alias is looked up again; 0: never."
    )
    # Bearer token -> role (predict or admin); None: no authentication. Never in the repr.
    api_tokens: dict[str, str] | None = Field(default=None, repr=False)
    protect_metrics: bool = Field(default=False, description="GET /metrics needs a token.")
    # The project's promotion policy: which versions POST /admin/traffic may send live
    # traffic to (as headway traffic set).
    promotion: Literal["auto", "manual"] = "auto"
    # Serving by entity keys (see headway.serving.features): the feature definitions file,
    # the service the model was trained on, and the online store (None: SQLite at
    # online_store_path).
    features_definitions: str | None = None
    feature_service: str | None = None
    online_store_url: str | None = Field(default=None, repr=False)
    online_store_path: str | None = None


def _open_log(settings: ServingSettings) -> Any | None:
    if settings.log_url is None and settings.log_dir is None:
        return None
    from pathlib import Path

    from headway.predictions import open_prediction_log

    root = Path(settings.log_dir) if settings.log_dir is not None else Path(".")
    return open_prediction_log(settings.log_url, root, fsync=settings.log_fsync)


# -- documented bodies (the OpenAPI description; the direct door answers without them) ---


class InvocationsResponse(BaseModel):
    """Predictions, one per row, in the order of the request's rows."""

    predictions: list[Any] = Field(description="a label (classification) or value per row")
    probabilities: list[float | dict[str, float]] | None = Field(
        default=None,
        description="binary: the positive class's probability per row; multiclass: class -> "
        "probability per row; absent for regression",
    )
    prediction_ids: list[str] = Field(description="one id per row, for POST /feedback")
    model: ModelDoc
    warnings: list[dict[str, Any]] | None = Field(
        default=None, description="warn-level schema rules broken: column, check, rows"
    )
    explanations: list[Any] | None = Field(
        default=None, description="with ?explain: the largest SHAP contributions per row"
    )


class ErrorResponse(BaseModel):
    error_code: str = Field(description="BAD_REQUEST, PAYLOAD_TOO_LARGE, MODEL_NOT_AVAILABLE, ...")
    message: str


class LiveResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str = Field(description="ready, or degraded (with the reason)")
    model: ModelDoc
    reason: str | None = None


class VersionResponse(BaseModel):
    headway: str
    model: ModelDoc


_ROWS = {"type": "array", "items": {"type": "object"}}
_FORMS: dict[str, Any] = {
    "dataframe_split": {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}},
        },
    },
    "dataframe_records": _ROWS,
    "instances": _ROWS,
    "inputs": {
        "oneOf": [{"type": "object", "additionalProperties": {"type": "array"}}, _ROWS],
    },
}
_INVOCATIONS_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "explain",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "true (5 columns per row) or N: the largest SHAP contributions",
        }
    ],
    "requestBody": {
        "required": True,
        "description": "exactly one of the four JSON forms, or CSV with a header row",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "title": key,
                            "required": [key],
                            "properties": {key: form},
                            "additionalProperties": False,
                        }
                        for key, form in _FORMS.items()
                    ]
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    },
}
_INVOCATIONS_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed body, or a schema rule broken"},
    413: {"model": ErrorResponse, "description": "body over the size limit"},
    503: {"model": ErrorResponse, "description": "no model, or the prediction log failed"},
    **AUTH_RESPONSES,
}


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
        await state.start()  # routes as the deployment record says from the first request
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(state.follow()), loop.create_task(state.compact_periodically())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.close()  # the appends already queued are written first

    app = _ServingApp(
        title="headway prediction server", version=served.version or "", lifespan=lifespan
    )
    app.state.serving = state
    app.state.metrics = metrics

    guard = Guard(settings.api_tokens, protect_metrics=settings.protect_metrics)
    app.state.guard = guard
    app.add_exception_handler(AuthError, auth_error_response)
    hot = Invocations(state, metrics, settings.max_body_bytes, authorize=guard.checker("predict"))
    app.state.invocations = hot
    app.add_api_route(
        "/invocations",
        hot.route,
        methods=["POST"],
        response_model=InvocationsResponse,
        responses=_INVOCATIONS_RESPONSES,
        openapi_extra=_INVOCATIONS_BODY,
        summary="Predictions (MLflow scoring protocol)",
    )

    app.include_router(
        oip_router(state), dependencies=[Depends(require_for_post("predict", v2=True))]
    )
    app.include_router(feedback_router(state))
    app.include_router(admin_router(state))

    @app.get("/health/live", response_model=LiveResponse)
    async def live() -> Response:
        return json_response({"status": "alive"})

    @app.get("/health/ready", response_model=ReadyResponse)
    @app.get("/ping", response_model=ReadyResponse)
    @app.get("/health", response_model=ReadyResponse)
    async def ready() -> Response:
        doc: dict[str, Any] = {"status": "ready", "model": state.scorer.model_doc}
        if state.degraded is not None:
            doc.update(status="degraded", reason=state.degraded)
        return json_response(doc)

    @app.get("/version", response_model=VersionResponse)
    async def version() -> Response:
        return json_response({"headway": __version__, "model": state.scorer.model_doc})

    @app.get(
        "/metrics",
        dependencies=[Depends(require("predict"))] if guard.protect_metrics else [],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        response_class=Response,
    )
    async def prometheus() -> Response:
        """Prometheus text format."""
        return Response(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    openapi = app.openapi

    def secured_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_security(openapi(), guard)
        return app.openapi_schema

    app.openapi = secured_openapi  # type: ignore[method-assign]

    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``headway serve --workers N``: the settings come
    from :data:`SETTINGS_ENV` (JSON, set by the parent process), the model loads here."""
    import os

    return create_app(ServingSettings.model_validate_json(os.environ[SETTINGS_ENV]))
