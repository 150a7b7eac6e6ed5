"""Rollouts: the autopilot's state machine, one row per rollout, in the control plane.

A rollout takes one candidate version of a model from its first step (shadow, say) to a
decision. Its row (``headway_rollouts``) holds:

- ``status``, one of :data:`STATUSES`: ``running`` or ``paused`` while active (a model has
  at most one active rollout), then exactly one of the ends ``promoted``, ``rolled_back``,
  ``expired`` (no decision within its budget) or ``aborted`` (stopped by a person);
- ``step``: the index of the current step in the rollout's plan (``state["steps"]``);
- ``revision``: goes up by one with every change. :meth:`RolloutStore.update` writes only
  when the row is still at the revision the caller read, so two controllers (or a controller
  and ``headway rollout pause``) never both apply a decision made on the same state: the
  second gets :class:`StaleRolloutError` and reads again;
- ``state``: a JSON object of what the controller needs after a restart (the plan, the
  running minimum of the always-valid p-value, counters at the start of the step) and the
  latest evidence.

The row survives restarts of every process: a controller started again continues from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, desc, select
from sqlalchemy.exc import SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.schema import MAX_NAME, MAX_VERSION, rollouts_table
from headway.exceptions import HeadwayError

__all__ = [
    "ACTIVE_STATUSES",
    "END_STATUSES",
    "STATUSES",
    "Rollout",
    "RolloutConflictError",
    "RolloutStore",
    "StaleRolloutError",
]

ACTIVE_STATUSES: tuple[str, ...] = ("running", "paused")
END_STATUSES: tuple[str, ...] = ("promoted", "rolled_back", "expired", "aborted")
STATUSES: tuple[str, ...] = (*ACTIVE_STATUSES, *END_STATUSES)
STRATEGIES: tuple[str, ...] = ("progressive", "ab", "direct")


class RolloutConflictError(HeadwayError):
    """The model already has an active rollout."""


class StaleRolloutError(HeadwayError):
    """The rollout changed since it was read (another process acted on it)."""


@dataclass(frozen=True)
class Rollout:
    """One rollout, as stored (see the module)."""

    id: int
    model: str
    candidate: str
    champion: str | None
    strategy: str
    status: str
    step: int
    revision: int
    started_at: datetime
    step_started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    reason: str
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Running or paused: not ended."""
        return self.status in ACTIVE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, times as ISO 8601 strings."""
        return {
            "id": self.id,
            "model": self.model,
            "candidate": self.candidate,
            "champion": self.champion,
            "strategy": self.strategy,
            "status": self.status,
            "step": self.step,
            "revision": self.revision,
            "started_at": self.started_at.isoformat(),
            "step_started_at": self.step_started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reason": self.reason,
            "state": self.state,
        }


def _json_state(state: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be a JSON object (a dict), got {type(state).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(state), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rollout state is not JSON (no NaN, no infinity): {exc}") from exc


class RolloutStore(ControlPlaneStore):
    """The rollouts of a project's models.

    Args:
        url: SQLAlchemy URL of the control-plane database.

    Raises:
        ConfigError: the URL is malformed or its driver is not installed.
        HeadwayError: the database cannot be reached or upgraded.
    """

    def start(
        self,
        model: str,
        *,
        candidate: str,
        champion: str | None,
        strategy: str,
        state: Mapping[str, Any],
        reason: str = "",
        at: datetime | None = None,
    ) -> Rollout:
        """Record a new running rollout at step 0.

        Raises:
            ValueError: an empty name, an unknown strategy, a state that is not JSON.
            RolloutConflictError: the model already has an active rollout (nothing is
                written).
            HeadwayError: the database refused the write.
        """
        check_text("model", model, MAX_NAME)
        check_text("candidate", candidate, MAX_VERSION)
        if champion is not None:
            check_text("champion", champion, MAX_VERSION)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r} is unknown; choose one of {STRATEGIES}")
        now = (at or datetime.now(UTC)).astimezone(UTC)
        values: dict[str, Any] = {
            "model": model,
            "candidate": candidate,
            "champion": champion,
            "strategy": strategy,
            "status": "running",
            "step": 0,
            "revision": 1,
            "started_at": now,
            "step_started_at": now,
            "updated_at": now,
            "ended_at": None,
            "reason": reason,
            "state": _json_state(state),
        }
        table = rollouts_table
        try:
            with self._write_engine.begin() as conn:
                found = conn.execute(
                    select(table.c.id, table.c.candidate).where(
                        and_(table.c.model == model, table.c.status.in_(ACTIVE_STATUSES))
                    )
                ).first()
                if found is not None:
                    raise RolloutConflictError(
                        f"{model} already has an active rollout (#{found.id}, version "
                        f"{found.candidate}); wait for it to end, or stop it with "
                        f"'headway rollout abort --model {model}'"
                    )
                key = conn.execute(table.insert().values(**values)).inserted_primary_key
                new_id = key[0] if key else None
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot start a rollout of {model} in {self.url}: {exc}") from exc
        if new_id is None:  # pragma: no cover - every supported database returns it
            raise HeadwayError(f"the database gave no id for the new rollout of {model}")
        return Rollout(id=int(new_id), **values)

    def get(self, rollout_id: int) -> Rollout:
        """The rollout with this id.

        Raises:
            HeadwayError: no such rollout, or the database cannot be read.
        """
        rows = self._read(select(rollouts_table).where(rollouts_table.c.id == int(rollout_id)))
        if not rows:
            raise HeadwayError(f"no rollout #{rollout_id} in {self.url}")
        return rows[0]

    def active(self, model: str) -> Rollout | None:
        """The model's running or paused rollout, or ``None``."""
        table = rollouts_table
        rows = self._read(
            select(table).where(and_(table.c.model == model, table.c.status.in_(ACTIVE_STATUSES)))
        )
        return rows[0] if rows else None

    def history(self, model: str, *, limit: int = 20) -> list[Rollout]:
        """The model's latest rollouts, newest first."""
        table = rollouts_table
        return self._read(
            select(table).where(table.c.model == model).order_by(desc(table.c.id)).limit(limit)
        )

    def update(
        self,
        rollout: Rollout,
        *,
        status: str | None = None,
        step: int | None = None,
        state: Mapping[str, Any] | None = None,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> Rollout:
        """Change a rollout read at ``rollout.revision``; its revision goes up by one.

        A new ``step`` restarts the step's clock (``step_started_at``); an end status sets
        ``ended_at``.

        Raises:
            ValueError: an unknown status, a negative step, a state that is not JSON.
            StaleRolloutError: the stored rollout is no longer at ``rollout.revision``
                (another process changed it); nothing is written.
            HeadwayError: the rollout has ended already, or the database refused.
        """
        if status is not None and status not in STATUSES:
            raise ValueError(f"status {status!r} is unknown; choose one of {STATUSES}")
        if step is not None and step < 0:
            raise ValueError(f"step must be 0 or more, got {step}")
        if not rollout.active:
            raise HeadwayError(
                f"rollout #{rollout.id} of {rollout.model} has ended ({rollout.status})"
            )
        now = (at or datetime.now(UTC)).astimezone(UTC)
        values: dict[str, Any] = {"revision": rollout.revision + 1, "updated_at": now}
        if status is not None:
            values["status"] = status
            if status in END_STATUSES:
                values["ended_at"] = now
        if step is not None and step != rollout.step:
            values["step"] = step
            values["step_started_at"] = now
        if state is not None:
            values["state"] = _json_state(state)
        if reason is not None:
            values["reason"] = reason
        table = rollouts_table
        query = (
            table.update()
            .where(and_(table.c.id == rollout.id, table.c.revision == rollout.revision))
            .values(**values)
        )
        try:
            with self._write_engine.begin() as conn:
                changed = conn.execute(query).rowcount
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot update rollout #{rollout.id} in {self.url}: {exc}") from exc
        if changed != 1:
            raise StaleRolloutError(
                f"rollout #{rollout.id} of {rollout.model} changed since it was read "
                f"(revision {rollout.revision}); read it again"
            )
        return self.get(rollout.id)

    def _read(self, query: Any) -> list[Rollout]:
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read rollouts from {self.url}: {exc}") from exc
        return [_from_row(row) for row in rows]


def _from_row(row: Any) -> Rollout:
    return Rollout(
        id=int(row["id"]),
        model=row["model"],
        candidate=row["candidate"],
        champion=row["champion"],
        strategy=row["strategy"],
        status=row["status"],
        step=int(row["step"]),
        revision=int(row["revision"]),
        started_at=row["started_at"],
        step_started_at=row["step_started_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        reason=row["reason"],
        state=dict(row["state"] or {}),
    )
