"""``/admin/...``: the server's own controls, for ``admin`` tokens when tokens are configured.

- ``POST /admin/reload``: look the served alias up now instead of at the next poll.
- ``GET /admin/traffic``: the model's deployment record as stored, and how this worker
  routes now.
- ``POST /admin/traffic``: change the deployment record, under the same rules as
  ``headway traffic set`` (:meth:`headway.registry.governance.Governor.set_traffic`: live
  traffic only to blessed versions, approved under ``promotion: manual``; shadow for any
  registered version), recorded in the audit log as ``traffic``. The worker that answers
  applies it before answering; the others follow within ``follow_seconds``, as they follow
  the command.

A refused change answers 400 (a field out of its range, naming it), 404 (no such version)
or 409 (the version may not receive that traffic, with the reason), and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from headway.exceptions import GovernanceError, HeadwayError, ModelNotFoundError
from headway.serving.auth import AUTH_RESPONSES, AuthErrorResponse, require

__all__ = ["ReloadResponse", "TrafficRequest", "TrafficResponse", "admin_router"]

logger = logging.getLogger(__name__)
ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
# The actor recorded for a change made through the API when the request names nobody.
API_ACTOR = "api"


class ModelDoc(BaseModel):
    name: str | None
    version: str | None
    uri: str


class ReloadResponse(BaseModel):
    """What ``POST /admin/reload`` found."""

    model: ModelDoc = Field(description="the version served now")
    previous_version: str | None = Field(description="the version served before the look-up")
    changed: bool = Field(description="whether the server moved to another version")
    followed: str | None = Field(
        description="NAME@ALIAS looked up; null when the server serves a fixed version"
    )
    degraded: str | None = Field(
        default=None, description="why the alias's version could not be loaded, if so"
    )


class TrafficRequest(BaseModel):
    """A new deployment record for the served model (``headway traffic set``'s options)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["single", "shadow", "canary", "ab"] = Field(
        description="single (champion only), shadow, canary or ab"
    )
    candidate: str | None = Field(
        default=None,
        max_length=64,
        description="the candidate's version, e.g. '4' (not for single)",
        examples=["4"],
    )
    weight: float = Field(
        default=0.0,
        description="the candidate's share: 0 < W <= 1 for canary, 0 < W < 1 for ab, "
        "0 for single and shadow",
    )
    entity_column: str | None = Field(
        default=None,
        max_length=255,
        description="ab only: the column that keeps an entity on one version, e.g. customer_id",
    )
    by: str | None = Field(
        default=None,
        max_length=255,
        description=f"who decides (recorded as claimed; default {API_ACTOR!r})",
    )
    reason: str = Field(default="", max_length=10_000, description="why (kept in the audit log)")


class Routing(BaseModel):
    mode: str = Field(description="single, shadow, canary or ab")
    champion: str | None = Field(description="the champion version this worker serves")
    candidate: str | None = Field(description="the candidate version this worker routes to")
    weight: float
    entity_column: str | None
    revision: int = Field(description="the revision of the record applied")


class TrafficResponse(BaseModel):
    """The deployment record, and how the answering worker routes now."""

    model: str
    deployment: dict[str, Any] = Field(
        description="the record as stored: mode, candidate, weight, entity_column, revision, "
        "updated_at, actor, os_actor, reason"
    )
    routing: Routing
    degraded: str | None = Field(default=None, description="why routing differs, if it does")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


def _refusal(status: int, code: str, message: str) -> Response:
    return _json({"error_code": code, "message": message}, status)


def _no_control_plane() -> Response:
    return _refusal(
        409,
        "NO_CONTROL_PLANE",
        "this server has no control plane to keep a deployment record in; start it with "
        "'headway serve --project DIR'",
    )


def _routing(state: Any) -> dict[str, Any]:
    return {
        "mode": state.mode,
        "champion": state.scorer.model.version,
        "candidate": state.candidate.model.version if state.candidate is not None else None,
        "weight": state.weight,
        "entity_column": state.entity_column,
        "revision": state.revision,
    }


def admin_router(state: Any) -> APIRouter:
    """The ``/admin`` routes of a server whose ServingState is ``state``."""
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require("admin"))])
    unavailable = {"model": AuthErrorResponse, "description": "the store cannot be reached"}

    @router.post(
        "/reload", response_model=ReloadResponse, responses={**AUTH_RESPONSES, 503: unavailable}
    )
    async def reload() -> Response:
        """Look the served alias up in the registry now (instead of at the next poll) and
        serve its version; answers the version served. With several workers only the
        worker that answers looks now; the others follow within ``follow_seconds``."""
        previous = state.scorer.model.version
        match = ALIAS_URI.match(state.settings.model_uri)
        followed = None
        if match is not None:
            followed = f"{match['name']}@{match['alias']}"
            try:
                await state.check(match["name"], match["alias"], asyncio.get_running_loop())
            except Exception as exc:
                logger.exception("reloading %s failed", followed)
                return _refusal(
                    503,
                    "REGISTRY_UNAVAILABLE",
                    f"looking {followed} up failed ({type(exc).__name__}); still serving "
                    f"version {previous}",
                )
        return _json(
            {
                "model": state.scorer.model_doc,
                "previous_version": previous,
                "changed": state.scorer.model.version != previous,
                "followed": followed,
                "degraded": state.degraded,
            }
        )

    def served_name() -> str | None:
        name = state.scorer.model.name
        return str(name) if name else None

    @router.get(
        "/traffic",
        response_model=TrafficResponse,
        responses={**AUTH_RESPONSES, 409: unavailable, 503: unavailable},
    )
    async def traffic() -> Response:
        """The served model's deployment record, and how this worker routes now."""
        from headway.controlplane.deployments import DeploymentStore

        url, name = state.settings.control_db_url, served_name()
        if url is None or name is None:
            return _no_control_plane()

        def read() -> dict[str, Any]:
            with DeploymentStore(url) as store:
                return store.get(name).as_dict()

        try:
            record = await asyncio.get_running_loop().run_in_executor(None, read)
        except HeadwayError as exc:
            return _refusal(503, "CONTROL_PLANE_UNAVAILABLE", str(exc))
        doc = {"model": name, "deployment": record, "routing": _routing(state)}
        return _json({**doc, "degraded": state.degraded})

    @router.post(
        "/traffic",
        response_model=TrafficResponse,
        responses={
            **AUTH_RESPONSES,
            400: {"model": AuthErrorResponse, "description": "a field out of its range"},
            404: {"model": AuthErrorResponse, "description": "no such version"},
            409: {"model": AuthErrorResponse, "description": "the version may not get it"},
            503: unavailable,
        },
    )
    async def set_traffic(change: TrafficRequest) -> Response:
        """Change the served model's deployment record (as ``headway traffic set``): the
        same rules, the same audit event; this worker applies it before answering."""
        from headway.controlplane import AuditLog, DeploymentStore
        from headway.registry.governance import Governor

        url, name = state.settings.control_db_url, served_name()
        if url is None or name is None:
            return _no_control_plane()

        def write() -> dict[str, Any]:
            with AuditLog(url) as audit, DeploymentStore(url) as store:
                governor = Governor(state.registry, audit, name, promotion=state.settings.promotion)
                record = governor.set_traffic(
                    store,
                    candidate=change.candidate,
                    mode=change.mode,
                    weight=change.weight,
                    entity_column=change.entity_column,
                    actor=(change.by or "").strip() or API_ACTOR,
                    reason=change.reason.strip(),
                )
            return record.as_dict()

        loop = asyncio.get_running_loop()
        try:
            record = await loop.run_in_executor(None, write)
        except ValueError as exc:
            return _refusal(400, "BAD_REQUEST", str(exc))
        except ModelNotFoundError as exc:
            return _refusal(404, "VERSION_NOT_FOUND", str(exc))
        except GovernanceError as exc:
            return _refusal(409, "REFUSED", str(exc))
        except HeadwayError as exc:
            return _refusal(503, "CONTROL_PLANE_UNAVAILABLE", str(exc))
        try:
            await state.check_deployment(name, loop)
        except Exception:  # stored; this worker follows at its next poll like the others
            logger.exception("applying deployment revision %s failed", record["revision"])
        doc = {"model": name, "deployment": record, "routing": _routing(state)}
        return _json({**doc, "degraded": state.degraded})

    return router
