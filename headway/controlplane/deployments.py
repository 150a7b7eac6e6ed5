"""The deployment record: how a served model splits its traffic with a candidate version.

One record per registered model, in the control-plane store (``headway_deployments``):

- ``candidate``: the version under rollout, or ``None`` when the champion serves alone. The
  champion itself stays the MLflow ``champion`` alias; this record names only the candidate.
- ``mode``, one of :data:`MODES`:

  - ``single``: the champion answers every request; no candidate.
  - ``shadow``: the candidate also scores every request, its answers are logged with route
    ``shadow``, and the champion answers.
  - ``canary``: a share ``weight`` of requests, chosen at random, is answered by the
    candidate.
  - ``ab``: sticky split: a row goes to the candidate when a hash of its ``entity_column``
    value (e.g. ``customer_id``) falls under ``weight``, so one entity always sees the same
    version.

- ``weight``: the candidate's share of traffic, in [0, 1]. It is 0 under ``single`` and
  ``shadow`` (any other value is refused, not silently changed), in (0, 1] under
  ``canary`` and in (0, 1) under ``ab``.
- ``entity_column``: the column an ``ab`` split hashes; ``None`` in every other mode.
- ``revision``: increases by one with every change, so that a running server can tell
  whether the record changed since it last read it. A model never set has revision 0.
- ``updated_at``, ``actor`` (who the caller says decided), ``os_actor`` (the OS user of the
  process that wrote it) and ``reason``.

This module checks the shape of a record only. Which versions may receive traffic (a
registered version, not the champion, blessed and approved for live traffic) is decided by
:meth:`headway.registry.governance.Governor.set_traffic`, which also writes the audit event.

Example:
    >>> with DeploymentStore(default_url(project.state_dir)) as store:  # doctest: +SKIP
    ...     store.set("churn", candidate="4", mode="canary", weight=0.1,
    ...               entity_column=None, actor="ana", reason="first live look")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.events import default_actor
from headway.controlplane.schema import MAX_NAME, MAX_VERSION, deployments_table
from headway.exceptions import HeadwayError

__all__ = ["MODES", "Deployment", "DeploymentStore", "check_deployment", "default_deployment"]

MODES: tuple[str, ...] = ("single", "shadow", "canary", "ab")
_LIVE_MODES = frozenset({"canary", "ab"})
# A first write of two writers at once may both find no row; the loser retries as an update.
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class Deployment:
    """The deployment record of one registered model, as stored (see the module).

    Attributes:
        model: registered model name.
        candidate: the version under rollout, or ``None`` (``single``).
        mode: one of :data:`MODES`.
        weight: the candidate's share of traffic (0 under ``single`` and ``shadow``).
        entity_column: the column an ``ab`` split hashes; ``None`` otherwise.
        revision: increases with every change; 0 for a model never set.
        updated_at: when it last changed, timezone-aware UTC; ``None`` at revision 0.
        actor: who changed it, as claimed (``--by``); ``None`` at revision 0.
        os_actor: the OS user of the process that changed it; ``None`` at revision 0.
        reason: why, may be empty.
    """

    model: str
    candidate: str | None
    mode: str
    weight: float
    entity_column: str | None
    revision: int
    updated_at: datetime | None
    actor: str | None
    os_actor: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the record, with ``updated_at`` as an ISO 8601 string."""
        return {
            "model": self.model,
            "candidate": self.candidate,
            "mode": self.mode,
            "weight": self.weight,
            "entity_column": self.entity_column,
            "revision": self.revision,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "actor": self.actor,
            "os_actor": self.os_actor,
            "reason": self.reason,
        }


def default_deployment(model: str) -> Deployment:
    """The record of a model never set: the champion alone, revision 0."""
    return Deployment(
        model=model,
        candidate=None,
        mode="single",
        weight=0.0,
        entity_column=None,
        revision=0,
        updated_at=None,
        actor=None,
        os_actor=None,
        reason="",
    )


def check_deployment(
    *,
    candidate: str | None,
    mode: str,
    weight: float,
    entity_column: str | None,
) -> tuple[str | None, str, float, str | None]:
    """The settings of a record, checked: ``(candidate, mode, weight, entity_column)``.

    Rules: ``mode`` is one of :data:`MODES`; ``weight`` is a number in [0, 1]; ``single``
    has no candidate, and ``single`` and ``shadow`` have weight 0; ``shadow``, ``canary``
    and ``ab`` need a candidate; ``canary`` needs 0 < weight <= 1; ``ab`` needs
    0 < weight < 1 and an entity column, which no other mode takes.

    Raises:
        ValueError: a rule is broken; the message names the field (``mode``, ``candidate``,
            ``weight`` or ``entity_column``) and what is allowed.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is unknown; choose one of {', '.join(MODES)}")
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ValueError(f"weight must be a number between 0 and 1, got {weight!r}")
    weight = float(weight)
    if not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 and 1, got {weight!r}")
    if candidate is not None:
        candidate = check_text("candidate", candidate, MAX_VERSION)
    if entity_column is not None:
        entity_column = check_text("entity_column", entity_column, MAX_NAME)

    if mode == "single":
        if candidate is not None:
            raise ValueError(
                f"candidate must be empty in mode 'single' (got {candidate!r}): the champion "
                "answers alone, and setting 'single' clears the candidate"
            )
    elif candidate is None:
        raise ValueError(f"candidate is required in mode {mode!r}: name the version to send it")
    if mode in ("single", "shadow") and weight != 0.0:
        raise ValueError(
            f"weight must be 0 in mode {mode!r} (got {weight!r}): the champion answers every "
            "request; use mode 'canary' or 'ab' to let the candidate answer a share"
        )
    if mode == "canary" and weight == 0.0:
        raise ValueError("weight must be above 0 and at most 1 in mode 'canary', got 0.0")
    if mode == "ab" and not 0.0 < weight < 1.0:
        raise ValueError(
            f"weight must be strictly between 0 and 1 in mode 'ab', got {weight!r}: both "
            "versions answer a share of the entities"
        )
    if mode == "ab" and entity_column is None:
        raise ValueError(
            "entity_column is required in mode 'ab': the column whose value keeps each entity "
            "on one version, e.g. customer_id"
        )
    if mode != "ab" and entity_column is not None:
        raise ValueError(
            f"entity_column is only for mode 'ab', got {entity_column!r} in mode {mode!r}"
        )
    return candidate, mode, weight, entity_column


class DeploymentStore(ControlPlaneStore):
    """The deployment records of a project's models, in a SQLAlchemy database.

    Opening upgrades the database in place to this headway's schema (creating it when
    empty; see :mod:`headway.controlplane.migrate`), as :class:`AuditLog` does.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///DIR/.headway/control.db`` (see
            :func:`default_url`) or ``postgresql+psycopg://user@host/db``.

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: the database cannot be reached or upgraded, it is not a headway
            control-plane database, or it was written by a newer headway.
    """

    def get(self, model: str) -> Deployment:
        """The record of ``model``; revision 0, mode ``single``, when it was never set.

        Raises:
            ValueError: empty model name.
            HeadwayError: the database cannot be read.
        """
        check_text("model", model, MAX_NAME)
        query = select(deployments_table).where(deployments_table.c.model == model)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().one_or_none()
        except SQLAlchemyError as exc:
            raise HeadwayError(
                f"cannot read the deployment of {model} from {self.url}: {exc}"
            ) from exc
        return default_deployment(model) if row is None else _from_row(row)

    def set(
        self,
        model: str,
        *,
        candidate: str | None,
        mode: str,
        weight: float,
        entity_column: str | None = None,
        actor: str | None = None,
        reason: str = "",
    ) -> Deployment:
        """Replace the record of ``model`` in one transaction; its revision goes up by one.

        See :meth:`update`, which also returns the record it replaced.
        """
        return self.update(
            model,
            candidate=candidate,
            mode=mode,
            weight=weight,
            entity_column=entity_column,
            actor=actor,
            reason=reason,
        )[1]

    def update(
        self,
        model: str,
        *,
        candidate: str | None,
        mode: str,
        weight: float,
        entity_column: str | None = None,
        actor: str | None = None,
        reason: str = "",
    ) -> tuple[Deployment, Deployment]:
        """Replace the record of ``model`` in one transaction; its revision goes up by one.

        Writers of one record are serialised (the SQLite write lock, a PostgreSQL row lock),
        so every change counts in the revision, however many processes write at once.

        Args:
            model: registered model name.
            candidate: the version under rollout; ``None`` under ``single``.
            mode: one of :data:`MODES`.
            weight: the candidate's share (see :func:`check_deployment`).
            entity_column: the column an ``ab`` split hashes.
            actor: who decided; defaults to :func:`default_actor`.
            reason: free text, may be empty.

        Returns:
            (the record replaced, the record now stored).

        Raises:
            ValueError: see :func:`check_deployment`; also an empty model or actor, or a
                reason that is not text. Nothing is written.
            HeadwayError: the database refused the write; nothing is written.
        """
        check_text("model", model, MAX_NAME)
        candidate, mode, weight, entity_column = check_deployment(
            candidate=candidate, mode=mode, weight=weight, entity_column=entity_column
        )
        actor = check_text("actor", actor if actor is not None else default_actor(), MAX_NAME)
        if not isinstance(reason, str):
            raise ValueError(f"reason must be a string, got {type(reason).__name__}")
        values: dict[str, Any] = {
            "candidate": candidate,
            "mode": mode,
            "weight": weight,
            "entity_column": entity_column,
            "actor": actor,
            "os_actor": default_actor(),
            "reason": reason,
        }
        table = deployments_table
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            values["updated_at"] = datetime.now(UTC)
            try:
                with self._write_engine.begin() as conn:
                    row = (
                        conn.execute(select(table).where(table.c.model == model).with_for_update())
                        .mappings()
                        .one_or_none()
                    )
                    if row is None:
                        previous = default_deployment(model)
                        values["revision"] = 1
                        conn.execute(table.insert().values(model=model, **values))
                    else:
                        previous = _from_row(row)
                        values["revision"] = previous.revision + 1
                        conn.execute(table.update().where(table.c.model == model).values(**values))
            except IntegrityError as exc:
                # Another writer created the row first (PostgreSQL): now it exists, lock it.
                if attempt < _WRITE_ATTEMPTS:
                    continue
                raise HeadwayError(
                    f"cannot write the deployment of {model} to {self.url}: {exc}"
                ) from exc
            except SQLAlchemyError as exc:
                raise HeadwayError(
                    f"cannot write the deployment of {model} to {self.url}: {exc}"
                ) from exc
            return previous, Deployment(model=model, **values)
        raise AssertionError("unreachable")  # pragma: no cover


def _from_row(row: Any) -> Deployment:
    return Deployment(
        model=row["model"],
        candidate=row["candidate"],
        mode=row["mode"],
        weight=float(row["weight"]),
        entity_column=row["entity_column"],
        revision=int(row["revision"]),
        updated_at=row["updated_at"],
        actor=row["actor"],
        os_actor=row["os_actor"],
        reason=row["reason"],
    )
