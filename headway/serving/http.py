"""HTTP pieces every route of the server shares: reading a bounded body, JSON answers, and
request-body schemas written in place for the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from headway.exceptions import InvalidRequestError, RequestTooLargeError

__all__ = ["check_declared_length", "inline_schema", "json_response", "read_body", "too_large"]


def check_declared_length(value: str | None, limit: int) -> None:
    """Refuse a body by its ``Content-Length`` header before reading it.

    Raises:
        InvalidRequestError: the header is not a number.
        RequestTooLargeError: it declares more than ``limit`` bytes.
    """
    if value is None:
        return
    if not value.strip().isdigit():
        raise InvalidRequestError("the Content-Length header is not a number of bytes")
    if int(value) > limit:
        raise RequestTooLargeError(
            f"request body of {int(value)} bytes exceeds the limit of {limit}; send smaller batches"
        )


def too_large(limit: int) -> RequestTooLargeError:
    """The error of a streamed body that went past ``limit`` bytes."""
    return RequestTooLargeError(
        f"request body exceeds the limit of {limit} bytes; send smaller batches"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes: from
    ``Content-Length`` before reading, else while streaming (a chunked body).

    Raises:
        RequestTooLargeError: the body is over the limit; the rest of it is never read.
        InvalidRequestError: ``Content-Length`` is not a number.
    """
    check_declared_length(request.headers.get("content-length"), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def json_response(content: Any, status: int = 200) -> Response:
    """``content`` as a JSON response (NumPy values written as numbers)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` written in place (OpenAPI resolves a ``$ref`` from
    the document's root, not from a request body's inline schema)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))
