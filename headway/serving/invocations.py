"""``POST /invocations``: one core, and a direct ASGI door to it.

Scoring one row takes tens of microseconds; the web framework's middleware stack around a
route (error and exception middleware, dependency solving, request objects) costs more than
that. The server therefore answers ``POST /invocations`` straight from the ASGI call
(:meth:`Invocations.asgi`, installed by :class:`headway.serving.app.create_app`) and keeps
the FastAPI route (:meth:`Invocations.route`) for its OpenAPI description and for apps
built without the direct door. Both run :meth:`Invocations.answer`: same checks, same body
limit, same errors, same metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Request, Response

from headway.exceptions import (
    HeadwayError,
    InvalidRequestError,
    ModelNotFoundError,
    PredictionLogError,
    RequestTooLargeError,
)
from headway.serving.http import check_declared_length, read_body, too_large
from headway.serving.metrics import ServingMetrics
from headway.serving.protocol import parse

__all__ = ["STATUS", "Invocations", "error_body", "explain_param"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# One table from error class to HTTP status (most specific first).
STATUS: tuple[tuple[type[HeadwayError], int, str], ...] = (
    (RequestTooLargeError, 413, "PAYLOAD_TOO_LARGE"),
    (InvalidRequestError, 400, "BAD_REQUEST"),
    (ModelNotFoundError, 503, "MODEL_NOT_AVAILABLE"),
    (PredictionLogError, 503, "PREDICTION_LOG_UNAVAILABLE"),
    (HeadwayError, 500, "INTERNAL_ERROR"),
)
_JSON_HEADERS = [(b"content-type", b"application/json")]


def error_body(exc: HeadwayError) -> tuple[int, bytes]:
    """The status and JSON body of an error, from :data:`STATUS`."""
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, orjson.dumps({"error_code": code, "message": str(exc)})
    raise AssertionError("unreachable: HeadwayError is in the table")


def explain_param(value: str | None) -> int:
    """``?explain=true`` (5 columns per row), ``?explain=N`` (N columns), or nothing."""
    if value is None or value.lower() in ("", "false", "0", "no"):
        return 0
    if value.lower() in ("true", "yes"):
        return 5
    if value.isdigit() and 0 < int(value) <= 1000:
        return int(value)
    raise InvalidRequestError(
        f"explain={value!r}: use explain=true, or explain=N for the N largest contributions"
    )


class Invocations:
    """The scoring endpoint of one server process (``state``: its ServingState)."""

    def __init__(
        self,
        state: Any,
        metrics: ServingMetrics,
        max_body_bytes: int,
        *,
        authorize: Callable[[bytes | str | None], Any] | None = None,
    ) -> None:
        self.state = state
        # ``authorize(header)``: None when the Authorization header may score, else the
        # refusal (``status``, ``body``, ``headers``); None: no tokens, nothing to check.
        self.authorize = authorize
        self.metrics = metrics
        self.limit = max_body_bytes
        self._requests: dict[int, Any] = {}
        self._latency = metrics.latency.labels("/invocations")

    def _count(self, status: int, started: float) -> None:
        counter = self._requests.get(status)
        if counter is None:
            counter = self._requests[status] = self.metrics.requests.labels(
                "/invocations", str(status)
            )
        counter.inc()
        self._latency.observe(time.perf_counter() - started)

    async def answer(
        self, body: bytes, content_type: str | None, explain: str | None
    ) -> tuple[int, bytes]:
        """Status and JSON body for one request whose body has been read."""
        try:
            if not body:
                raise InvalidRequestError("the request body is empty")
            parsed = parse(body, content_type)
            # Routed as the deployment record says; each part finishes on the scorer it
            # started on, even if a swap follows.
            result = await self.state.predict(parsed, explain=explain_param(explain))
            model = result["model"]
            self.metrics.rows.labels(model["name"] or "", model["version"] or "").inc(parsed.n_rows)
            for warning in result.get("warnings", ()):
                self.metrics.schema_violations.labels(warning["column"], warning["check"]).inc()
            return 200, orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
        except HeadwayError as exc:
            return error_body(exc)
        except Exception:  # a bug, not the caller's fault: log it, answer JSON, count a 500
            logger.exception("prediction failed")
            return 500, orjson.dumps(
                {"error_code": "INTERNAL_ERROR", "message": "prediction failed; see the server log"}
            )

    # -- the FastAPI route ----------------------------------------------------------------

    async def route(self, request: Request) -> Response:
        started = time.perf_counter()
        if self.authorize is not None:
            refused = self.authorize(request.headers.get("authorization"))
            if refused is not None:
                self._count(refused.status, started)
                headers = {k.decode(): v.decode() for k, v in refused.headers}
                return Response(refused.body, status_code=refused.status, headers=headers)
        try:
            body = await read_body(request, self.limit)
        except HeadwayError as exc:
            status, content = error_body(exc)
        else:
            status, content = await self.answer(
                body,
                request.headers.get("content-type"),
                request.query_params.get("explain"),
            )
        self._count(status, started)
        return Response(content, status_code=status, media_type="application/json")

    # -- the direct ASGI door -------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        content_type = length = authorization = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length":
                length = value.decode("latin-1")
            elif key == b"authorization":
                authorization = value
        if self.authorize is not None:
            refused = self.authorize(authorization)
            if refused is not None:
                self._count(refused.status, started)
                await send(
                    {
                        "type": "http.response.start",
                        "status": refused.status,
                        "headers": [
                            *refused.headers,
                            (b"content-length", str(len(refused.body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": refused.body})
                return
        try:
            check_declared_length(length, self.limit)
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.limit:
                    raise too_large(self.limit)
        except HeadwayError as exc:
            status, content = error_body(exc)
        else:
            explain = None
            query = scope.get("query_string", b"")
            if query:
                values = parse_qs(query.decode("latin-1")).get("explain")
                explain = values[-1] if values else None
            status, content = await self.answer(body, content_type, explain)
        self._count(status, started)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
