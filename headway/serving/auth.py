"""Bearer tokens for the prediction server.

Tokens are optional: with none configured every route is open. Each token has a role:

- ``predict``: ``POST /invocations``, ``POST /v2/models/.../infer`` and ``POST /feedback``
  (and ``GET /metrics`` when ``serving.protect_metrics`` is true);
- ``admin``: everything ``predict`` may call, and the ``/admin/...`` routes.

Health (``/health/*``, ``/ping``, ``/v2/health/*``), metadata and ``/version`` stay open.

Tokens come from ``HEADWAY_API_TOKENS`` (``TOKEN:ROLE,TOKEN:ROLE``) and from the file named
by ``serving.token_file`` (one ``TOKEN ROLE`` per line, ``#`` starts a comment), merged. A
client sends ``Authorization: Bearer TOKEN``. A presented token is compared with every
configured one (SHA-256 digests, :func:`hmac.compare_digest`, no early exit), so the time
taken does not tell how much of a token was right. A token never appears in an error
message, a log line, a metric or the prediction log; error messages about the configuration
name the source and the entry's position only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field

from headway.exceptions import ConfigError

__all__ = [
    "AUTH_RESPONSES",
    "ROLES",
    "AuthError",
    "Guard",
    "auth_error_response",
    "document_security",
    "merge_tokens",
    "parse_api_tokens",
    "read_token_file",
    "require",
    "require_for_post",
]

# A role and what it grants, higher includes lower.
ROLES: dict[str, int] = {"predict": 1, "admin": 2}
# RFC 6750's b64token: letters, digits, - . _ ~ + /, then any '='.
_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MIN_TOKEN_LENGTH = 16
logger = logging.getLogger(__name__)


# -- configuration -------------------------------------------------------------------------


def _entry(token: str, role: str, where: str) -> tuple[str, str]:
    if not _TOKEN.match(token):
        raise ConfigError(
            f"{where}: the token is not a bearer token (letters, digits and - . _ ~ + / "
            "only, then any '='); generate one with e.g. 'openssl rand -hex 32'"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters; generate one "
            "with e.g. 'openssl rand -hex 32'"
        )
    if role not in ROLES:
        raise ConfigError(f"{where}: the role must be one of {', '.join(ROLES)}")
    return token, role


def _add(table: dict[str, str], token: str, role: str, where: str) -> None:
    if table.get(token, role) != role:
        raise ConfigError(f"{where}: this token was already given with another role")
    table[token] = role


def parse_api_tokens(text: str, *, source: str = "HEADWAY_API_TOKENS") -> dict[str, str]:
    """Token -> role from ``TOKEN:ROLE,TOKEN:ROLE`` (spaces around entries are ignored).

    Raises:
        ConfigError: an entry is malformed; the message names its position, never the token.
    """
    table: dict[str, str] = {}
    for index, raw in enumerate(text.split(","), start=1):
        item = raw.strip()
        if not item:
            continue
        where = f"{source}: entry {index}"
        token, colon, role = item.rpartition(":")
        if not colon:
            raise ConfigError(f"{where} is not TOKEN:ROLE (role predict or admin)")
        _add(table, *_entry(token.strip(), role.strip(), where), where)
    return table


def read_token_file(path: str | Path) -> dict[str, str]:
    """Token -> role from a token file: one ``TOKEN ROLE`` per line (blank lines and text
    after ``#`` are ignored).

    Raises:
        ConfigError: the file cannot be read, or a line is malformed (named by its number,
            never by its text).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"serving.token_file {str(path)!r} cannot be read ({type(exc).__name__}); give a "
            "file with one 'TOKEN ROLE' per line"
        ) from None
    if hasattr(os, "getuid") and Path(path).stat().st_mode & 0o077:
        logger.warning(
            "serving.token_file %r can be read by other users; restrict it (chmod 600)",
            str(path),
        )
    table: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"serving.token_file {str(path)!r}: line {number}"
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{where} is not 'TOKEN ROLE' (role predict or admin)")
        _add(table, *_entry(parts[0], parts[1], where), where)
    return table


def merge_tokens(*tables: Mapping[str, str] | None) -> dict[str, str] | None:
    """The tokens of every table; ``None`` when there are none (no authentication).

    Raises:
        ConfigError: a token is given twice with different roles.
    """
    merged: dict[str, str] = {}
    for table in tables:
        for token, role in (table or {}).items():
            _add(merged, token, role, "the configured tokens")
    return merged or None


# -- checking ------------------------------------------------------------------------------


class AuthError(Exception):
    """A request without a valid token (401) or with too weak a one (403); its answer."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers


def _failure(status: int, message: str, *, v2: bool = False) -> AuthError:
    code = "UNAUTHORIZED" if status == 401 else "FORBIDDEN"
    doc: dict[str, str] = {"error_code": code, "message": message}
    if v2:
        doc["error"] = message  # the Open Inference Protocol's error field
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="headway"'))
    return AuthError(status, orjson.dumps(doc), headers)


_MISSING = "this route needs a bearer token: send 'Authorization: Bearer TOKEN'"
_UNKNOWN = "the bearer token is not valid"


class Guard:
    """The configured tokens of one server and the checks made with them.

    ``Guard(None)`` (no tokens) lets everything through: :attr:`enabled` is false and
    :meth:`checker` gives ``None``.
    """

    def __init__(self, tokens: Mapping[str, str] | None, *, protect_metrics: bool = False):
        # Only digests are kept: comparing equal-length digests takes the same time
        # whatever the presented token.
        self._entries = [
            (hashlib.sha256(token.encode("ascii")).digest(), ROLES[role])
            for token, role in (tokens or {}).items()
        ]
        self.enabled = bool(self._entries)
        self.protect_metrics = protect_metrics and self.enabled
        self._failures: dict[tuple[int, bool, str], AuthError] = {}

    def __repr__(self) -> str:
        return f"Guard(tokens={len(self._entries)}, protect_metrics={self.protect_metrics})"

    def rank(self, authorization: bytes | str | None) -> int:
        """The rank of the role of the token in an ``Authorization`` header; 0: none."""
        if authorization is None:
            return 0
        if isinstance(authorization, str):
            authorization = authorization.encode("latin-1", "replace")
        scheme, _, credentials = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return 0
        presented = hashlib.sha256(credentials.strip()).digest()
        found = 0
        for digest, rank in self._entries:  # every entry, no early exit
            if hmac.compare_digest(digest, presented):
                found = rank
        return found

    def check(
        self, authorization: bytes | str | None, role: str, *, v2: bool = False
    ) -> AuthError | None:
        """``None`` when the header's token may act as ``role``, else the answer to send."""
        if not self.enabled:
            return None
        got = self.rank(authorization)
        need = ROLES[role]
        if got >= need:
            return None
        # 403: a known token of a lower role; 401: no token (0) or an unknown one (-1).
        kind = 403 if got else (401 if authorization is None else -1)
        key = (kind, v2, role)
        failure = self._failures.get(key)
        if failure is None:
            if kind == 403:
                failure = _failure(403, f"this route needs a token with the role {role}", v2=v2)
            else:
                failure = _failure(401, _MISSING if kind == 401 else _UNKNOWN, v2=v2)
            self._failures[key] = failure
        return failure

    def checker(self, role: str) -> Callable[[bytes | str | None], AuthError | None] | None:
        """A one-argument check for ``role`` (the ``Authorization`` header), or ``None``
        when no tokens are configured."""
        if not self.enabled:
            return None

        def check(authorization: bytes | str | None) -> AuthError | None:
            return self.check(authorization, role)

        return check


def auth_error_response(_: Request, exc: Exception) -> Response:
    """The FastAPI exception handler of :class:`AuthError`."""
    assert isinstance(exc, AuthError)
    return Response(
        exc.body,
        status_code=exc.status,
        headers={k.decode(): v.decode() for k, v in exc.headers if k != b"content-type"},
        media_type="application/json",
    )


def require(role: str, *, v2: bool = False) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency: the request needs a token whose role is ``role`` (or higher)
    when the app's :class:`Guard` (``app.state.guard``) has tokens; raises
    :class:`AuthError` otherwise. ``v2``: the error body also carries the Open Inference
    Protocol's ``error`` field."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")

    async def dependency(request: Request) -> None:
        guard: Guard | None = getattr(request.app.state, "guard", None)
        if guard is None or not guard.enabled:
            return
        failure = guard.check(request.headers.get("authorization"), role, v2=v2)
        if failure is not None:
            raise failure

    return dependency


def require_for_post(role: str, *, v2: bool = False) -> Callable[[Request], Awaitable[None]]:
    """As :func:`require`, for ``POST`` requests only (a router whose reads stay open)."""
    inner = require(role, v2=v2)

    async def dependency(request: Request) -> None:
        if request.method == "POST":
            await inner(request)

    return dependency


# -- documented refusals ---------------------------------------------------------------


class AuthErrorResponse(BaseModel):
    error_code: str = Field(description="UNAUTHORIZED (401) or FORBIDDEN (403)")
    message: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": AuthErrorResponse, "description": "no token, or an unknown one"},
    403: {"model": AuthErrorResponse, "description": "the token's role is not enough"},
}


def protects(guard: Guard, method: str, path: str) -> bool:
    """Whether ``guard`` asks a token of ``method path`` (for the OpenAPI description)."""
    if not guard.enabled:
        return False
    if path == "/metrics":
        return guard.protect_metrics
    if path.startswith("/admin/"):
        return True
    return method.lower() == "post" and (
        path in ("/invocations", "/feedback") or path.startswith("/v2/")
    )


def document_security(schema: dict[str, Any], guard: Guard) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with the bearer scheme on the routes ``guard``
    protects, and their 401/403 answers; unchanged when no tokens are configured."""
    if not guard.enabled:
        return schema
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "a token of HEADWAY_API_TOKENS or serving.token_file",
    }
    error = {
        "application/json": {
            "schema": _inline_schema(AuthErrorResponse.model_json_schema()),
        }
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or not protects(guard, method, path):
                continue
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "no token, or an unknown one"})
            responses["401"].setdefault("content", error)
            responses.setdefault("403", {"description": "the token's role is not enough"})
            responses["403"].setdefault("content", error)
    return schema


def _inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("$defs", None)
    return schema
