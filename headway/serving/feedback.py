"""``POST /feedback``: labels of logged predictions, sent to the server that made them.

The body is one item or a list of items ``{"prediction_id", "label", "observed_at"?}``:
``label`` is a JSON scalar (number, string, boolean), ``observed_at`` an ISO 8601 time
(without a zone: UTC). Each item is checked on its own: the good ones are stored in the
prediction log (:meth:`~headway.predictions.BasePredictionLog.add_feedback`, in a thread),
the bad ones are reported by index, field and message, and ids the log has never seen are
listed. The answer is 200 when a label was stored or no item was malformed, 422 when
nothing was stored and some item was malformed (same body); a body that is not JSON, not
an object or a list, or an empty list is a 400, and a server without a prediction log
answers 503 ``PREDICTION_LOG_UNAVAILABLE``.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from headway.exceptions import (
    HeadwayError,
    InvalidRequestError,
    PredictionLogError,
)
from headway.predictions.base import Feedback
from headway.serving.auth import AUTH_RESPONSES, require
from headway.serving.http import inline_schema, json_response, read_body
from headway.serving.invocations import error_body

__all__ = ["FeedbackItem", "FeedbackResponse", "feedback_router", "parse_feedback"]

logger = logging.getLogger(__name__)

_FIELDS = ("prediction_id", "label", "observed_at")
MAX_ID_LENGTH = 256


class FeedbackItem(BaseModel):
    """The observed label of one logged prediction."""

    prediction_id: str = Field(description="an id from prediction_ids of a response")
    label: str | int | float | bool = Field(description="the true value: a JSON scalar")
    observed_at: datetime | None = Field(
        default=None,
        description="when the label became true or known, ISO 8601 (no zone: UTC); "
        "default: when it reaches the server",
    )


class ItemError(BaseModel):
    index: int = Field(description="position of the item in the list (0 for one object)")
    field: str | None = Field(description="the field at fault; null: the item itself")
    message: str


class FeedbackResponse(BaseModel):
    accepted: int = Field(description="labels stored")
    unknown_ids: list[str] = Field(description="ids never logged; their labels were not stored")
    errors: list[ItemError] = Field(description="items not stored because they are malformed")


class FeedbackErrorResponse(BaseModel):
    error_code: str
    message: str


_ITEM_SCHEMA = inline_schema(FeedbackItem.model_json_schema())
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [_ITEM_SCHEMA, {"type": "array", "items": _ITEM_SCHEMA}],
                },
                "example": [
                    {
                        "prediction_id": "75e0106f525f42d18067acd1f7750506",
                        "label": 1,
                        "observed_at": "2025-01-31T12:00:00Z",
                    }
                ],
            }
        },
    }
}


def _observed_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 time as a string, got {_kind(value)}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            "is not an ISO 8601 time, e.g. 2025-01-31T12:00:00Z or 2025-01-31"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=UTC)  # no zone: UTC
    return when


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _item(index: int, item: Any, errors: list[dict[str, Any]]) -> Feedback | None:
    def fail(field: str | None, message: str) -> None:
        errors.append({"index": index, "field": field, "message": message})

    if not isinstance(item, dict):
        fail(None, f"an item must be an object with prediction_id and label, got {_kind(item)}")
        return None
    before = len(errors)
    extra = [key for key in item if key not in _FIELDS]
    for key in extra:
        fail(str(key)[:64], "unknown field; an item has prediction_id, label and observed_at")
    pid = item.get("prediction_id")
    if not isinstance(pid, str) or not pid.strip():
        fail("prediction_id", f"must be a non-empty string, got {_kind(pid)}")
    elif len(pid) > MAX_ID_LENGTH:
        fail("prediction_id", f"is longer than {MAX_ID_LENGTH} characters")
    if "label" not in item or item["label"] is None:
        fail("label", "is missing; give the observed value (a number, string or boolean)")
    else:
        label = item["label"]
        if not isinstance(label, str | int | float | bool):
            fail("label", f"must be a JSON scalar (number, string, boolean), got {_kind(label)}")
        elif isinstance(label, float) and not math.isfinite(label):
            fail("label", "must be a finite number")
    when = None
    try:
        when = _observed_at(item.get("observed_at"))
    except ValueError as exc:
        fail("observed_at", str(exc))
    if len(errors) > before:
        return None
    try:
        return Feedback(str(pid), item["label"], when)
    except (TypeError, ValueError) as exc:  # what Feedback itself refuses
        fail(None, str(exc)[:300])
        return None


def parse_feedback(body: bytes) -> tuple[list[Feedback], list[dict[str, Any]]]:
    """The well-formed labels of a ``/feedback`` body and the errors of the others.

    Raises:
        InvalidRequestError: the body is not JSON, or not an object or a non-empty list.
    """
    if not body.strip():
        raise InvalidRequestError("the request body is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from None
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise InvalidRequestError(
            "the body must be an object {prediction_id, label, observed_at?} or a list of them"
        )
    if not doc:
        raise InvalidRequestError("the body holds no labels; send at least one item")
    items: list[Feedback] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(doc):
        parsed = _item(index, item, errors)
        if parsed is not None:
            items.append(parsed)
    return items, errors


def feedback_router(state: Any) -> APIRouter:
    """``POST /feedback`` of the server whose :class:`ServingState` is ``state``."""
    router = APIRouter(tags=["feedback"])

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        dependencies=[Depends(require("predict"))],
        openapi_extra=_BODY,
        responses={
            400: {"model": FeedbackErrorResponse, "description": "malformed body"},
            413: {"model": FeedbackErrorResponse, "description": "body over the size limit"},
            422: {
                "model": FeedbackResponse,
                "description": "nothing stored: every item that is not unknown is malformed",
            },
            503: {
                "model": FeedbackErrorResponse,
                "description": "PREDICTION_LOG_UNAVAILABLE: no prediction log, or it failed",
            },
            **AUTH_RESPONSES,
        },
    )
    async def feedback(request: Request) -> Response:
        """Store the observed labels of logged predictions (one item or a list)."""
        started = time.perf_counter()
        status = 500
        try:
            log = state.log
            if log is None:
                raise PredictionLogError(
                    "this server has no prediction log (predictions.enabled is false), so "
                    "labels cannot be stored; send them to a server that logs predictions or "
                    "use 'headway feedback'"
                )
            body = await read_body(request, state.settings.max_body_bytes)
            items, errors = parse_feedback(body)
            try:
                result = await run_in_threadpool(log.add_feedback, items)
            except HeadwayError:
                raise
            except Exception as exc:
                logger.exception("storing %d labels failed", len(items))
                raise PredictionLogError(
                    "the prediction log cannot store the labels now; see the server log"
                ) from exc
            status = 422 if errors and not result.accepted else 200
            return json_response(
                {"accepted": result.accepted, "unknown_ids": result.unknown_ids, "errors": errors},
                status,
            )
        except HeadwayError as exc:
            status, content = error_body(exc)
            return Response(content, status_code=status, media_type="application/json")
        finally:
            state.metrics.requests.labels("/feedback", str(status)).inc()
            state.metrics.latency.labels("/feedback").observe(time.perf_counter() - started)

    return router
