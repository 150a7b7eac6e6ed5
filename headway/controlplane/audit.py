"""The audit log: every governance decision on a model, in the control-plane store.

Each decision (a version registered, blessed or not, approved, rejected, promoted, rolled
back, archived, or promoted unblessed with ``--force``) is one row of ``headway_audit``:
when (UTC), who, on which model and version, why, and a JSON object of details (gate
results, the previous champion version, ...).

The store is any SQLAlchemy database, used through SQLAlchemy Core: SQLite by default at
``DIR/.headway/control.db`` (see :func:`default_url`), PostgreSQL when the team shares one.
SQLite runs in WAL mode with a busy timeout, and every write takes the write lock up front
(``BEGIN IMMEDIATE``), so several processes can append to one file at once. Opening the
log upgrades the database to this headway's schema in place.

The URL is the caller's to choose: this module reads no environment variable.

Example:
    >>> with AuditLog(default_url(project.state_dir)) as log:  # doctest: +SKIP
    ...     log.record("promoted", model="churn", version="3", reason="beats v2")
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.events import AUDIT_ACTIONS, AuditEvent, default_actor
from headway.controlplane.schema import MAX_NAME, MAX_VERSION, audit_table
from headway.exceptions import HeadwayError

__all__ = ["AuditLog"]


def _check_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON round-tripped copy of ``details``, so that what is returned is what is stored.

    Raises:
        ValueError: ``details`` is not a mapping with string keys, or a value cannot be
            written as JSON (the message names its key).
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise ValueError(f"details must be a JSON object (a dict), got {type(details).__name__}")
    out: dict[str, Any] = {}
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError(f"details key {key!r} must be a string, got {type(key).__name__}")
        try:
            out[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            shown = type(value).__name__
            if isinstance(value, float) and not math.isfinite(value):
                shown = repr(value)
            raise ValueError(
                f"details[{key!r}] is not JSON-serialisable ({shown}: {exc}); "
                "pass strings, numbers, booleans, None, lists or dicts of them"
            ) from exc
    return out


class AuditLog(ControlPlaneStore):
    """Append-only log of governance decisions in a SQLAlchemy database.

    Opening upgrades the database in place to this headway's schema (creating it when
    empty; see :mod:`headway.controlplane.migrate`).

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///DIR/.headway/control.db`` (see
            :func:`default_url`) or ``postgresql+psycopg://user@host/db``.

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: the database cannot be reached or upgraded, it is not a headway
            control-plane database, or it was written by a newer headway (a schema
            version or migration revision this one does not know).
    """

    def record(
        self,
        action: str,
        *,
        model: str,
        version: str | None = None,
        actor: str | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        """Append one decision, in one transaction, and return it as stored.

        Args:
            action: one of :data:`AUDIT_ACTIONS`.
            model: registered model name.
            version: model version; ``None`` for a decision on the model as a whole.
            actor: who decided; defaults to :func:`default_actor`.
            reason: free text, may be empty.
            details: JSON object (string keys; values JSON-serialisable).
            at: when, timezone-aware; defaults to now (UTC).

        Raises:
            ValueError: unknown action (the message lists the allowed ones), empty model
                or actor, naive ``at``, or details that are not JSON (naming the key).
            HeadwayError: the database refused the write.
        """
        if action not in AUDIT_ACTIONS:
            raise ValueError(
                f"unknown audit action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}"
            )
        check_text("model", model, MAX_NAME)
        if version is not None:
            version = check_text("version", str(version), MAX_VERSION)
        actor = check_text("actor", actor if actor is not None else default_actor(), MAX_NAME)
        if not isinstance(reason, str):
            raise ValueError(f"reason must be a string, got {type(reason).__name__}")
        stored_details = _check_details(details)
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"at={at.isoformat()} must be timezone-aware (e.g. datetime.now(UTC))")
        at = at.astimezone(UTC)
        row: dict[str, Any] = {
            "at": at,
            "action": action,
            "model": model,
            "version": version,
            "actor": actor,
            "os_actor": default_actor(),
            "reason": reason,
            "details": stored_details,
        }
        try:
            with self._write_engine.begin() as conn:
                result = conn.execute(audit_table.insert().values(**row))
                key = result.inserted_primary_key
        except SQLAlchemyError as exc:
            raise HeadwayError(
                f"cannot write the audit event ({action} {model} {version or ''}) to "
                f"{self.url}: {exc}"
            ) from exc
        if key is None or key[0] is None:  # pragma: no cover - every supported dialect has it
            raise HeadwayError(f"{self.url}: the database returned no id for the audit event")
        return AuditEvent(id=int(key[0]), **row)

    def events(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Stored events matching every given filter, oldest first.

        Args:
            model: only this model.
            version: only this version.
            action: only this action (one of :data:`AUDIT_ACTIONS`).
            since: only events at or after this timezone-aware time.
            limit: only the newest ``limit`` matching events (still oldest first).

        Raises:
            ValueError: unknown action, naive ``since``, or ``limit`` below 1.
            HeadwayError: the database cannot be read.
        """
        if action is not None and action not in AUDIT_ACTIONS:
            raise ValueError(
                f"unknown audit action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}"
            )
        if since is not None and (since.tzinfo is None or since.utcoffset() is None):
            raise ValueError(f"since={since.isoformat()} must be timezone-aware")
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        query = select(audit_table)
        if model is not None:
            query = query.where(audit_table.c.model == model)
        if version is not None:
            query = query.where(audit_table.c.version == str(version))
        if action is not None:
            query = query.where(audit_table.c.action == action)
        if since is not None:
            query = query.where(audit_table.c.at >= since.astimezone(UTC))
        if limit is not None:
            query = query.order_by(audit_table.c.at.desc(), audit_table.c.id.desc()).limit(limit)
        else:
            query = query.order_by(audit_table.c.at, audit_table.c.id)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read the audit log from {self.url}: {exc}") from exc
        found = [
            AuditEvent(
                id=int(r["id"]),
                at=r["at"],
                action=r["action"],
                model=r["model"],
                version=r["version"],
                actor=r["actor"],
                reason=r["reason"],
                details=dict(r["details"] or {}),
                os_actor=r["os_actor"],
            )
            for r in rows
        ]
        if limit is not None:
            found.reverse()
        return found
