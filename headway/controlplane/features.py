"""Applied feature definitions: what ``headway features apply`` registered, in the control
plane.

One row of ``headway_features`` per entity, feature view, on-demand feature and service:
its definition as JSON, a content hash, owner, description, when and by whom it was
applied. Applying a set of definitions replaces the stored set in one transaction (added,
changed, removed and unchanged items are reported), so the store always holds one
consistent set: a failed apply leaves the previous one whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.events import default_actor
from headway.controlplane.schema import MAX_NAME, features_table
from headway.exceptions import HeadwayError

__all__ = ["ApplyResult", "FeatureRegistry", "StoredFeatureItem"]

KINDS = ("entity", "feature_view", "on_demand_feature", "service")
# Rows of this kind remember how far each view was materialized into the online store.
_MATERIALIZED = "materialized"


@dataclass(frozen=True)
class StoredFeatureItem:
    """One applied entity, feature view or service."""

    kind: str
    name: str
    content_hash: str
    definition: dict[str, Any]
    owner: str
    description: str
    applied_at: datetime
    applied_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "content_hash": self.content_hash,
            "definition": self.definition,
            "owner": self.owner,
            "description": self.description,
            "applied_at": self.applied_at.isoformat(),
            "applied_by": self.applied_by,
        }


@dataclass(frozen=True)
class ApplyResult:
    """What an apply changed, by ``kind:name``."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
        }


def _hash(definition: Mapping[str, Any]) -> str:
    payload = json.dumps(definition, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


class FeatureRegistry(ControlPlaneStore):
    """The applied feature definitions of a project (see the module)."""

    def apply(
        self,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> ApplyResult:
        """Replace the stored set with ``items``: ``(kind, definition)`` pairs, each
        definition a JSON object with at least ``name``.

        Raises:
            ValueError: an unknown kind, a definition without a name, two items of one
                kind and name; nothing is written.
            HeadwayError: the database refused; nothing is written.
        """
        actor = check_text("actor", actor if actor is not None else default_actor(), MAX_NAME)
        now = (at or datetime.now(UTC)).astimezone(UTC)
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, definition in items:
            if kind not in KINDS:
                raise ValueError(f"kind {kind!r} is unknown; choose one of {KINDS}")
            doc = json.loads(json.dumps(dict(definition), allow_nan=False))
            name = check_text(f"{kind} name", doc.get("name"), MAX_NAME)
            if (kind, name) in rows:
                raise ValueError(f"{kind} {name!r} is given twice")
            rows[(kind, name)] = {
                "kind": kind,
                "name": name,
                "content_hash": _hash(doc),
                "definition": doc,
                "owner": str(doc.get("owner") or ""),
                "description": str(doc.get("description") or ""),
                "applied_at": now,
                "applied_by": actor,
            }
        result = ApplyResult()
        table = features_table
        try:
            with self._write_engine.begin() as conn:
                stored = {
                    (r["kind"], r["name"]): r for r in conn.execute(select(table)).mappings().all()
                }
                for key, row in rows.items():
                    label = f"{key[0]}:{key[1]}"
                    old = stored.get(key)
                    if old is None:
                        result.added.append(label)
                    elif old["content_hash"] != row["content_hash"]:
                        result.changed.append(label)
                    else:
                        result.unchanged.append(label)
                        continue
                    conn.execute(
                        delete(table).where((table.c.kind == key[0]) & (table.c.name == key[1]))
                    )
                    conn.execute(table.insert().values(**row))
                for key in stored.keys() - rows.keys():
                    result.removed.append(f"{key[0]}:{key[1]}")
                    conn.execute(
                        delete(table).where((table.c.kind == key[0]) & (table.c.name == key[1]))
                    )
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot apply feature definitions to {self.url}: {exc}") from exc
        return result

    def items(self, kind: str | None = None) -> list[StoredFeatureItem]:
        """The applied items (of one ``kind``), by kind and name."""
        table = features_table
        query = select(table).order_by(table.c.kind, table.c.name)
        query = query.where(table.c.kind == kind) if kind else query.where(table.c.kind.in_(KINDS))
        try:
            with self._engine.connect() as conn:
                found = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read feature definitions from {self.url}: {exc}") from exc
        return [StoredFeatureItem(**dict(row)) for row in found]

    def materialized_until(self, view: str) -> datetime | None:
        """The end of the last materialization of ``view`` (``None``: never)."""
        table = features_table
        query = select(table.c.definition).where(
            (table.c.kind == _MATERIALIZED) & (table.c.name == view)
        )
        try:
            with self._engine.connect() as conn:
                found = conn.execute(query).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read materializations from {self.url}: {exc}") from exc
        return None if found is None else datetime.fromisoformat(found["end"])

    def record_materialization(
        self,
        view: str,
        *,
        start: datetime | None,
        end: datetime,
        rows: int,
        actor: str | None = None,
    ) -> None:
        """Remember that ``view`` was materialized up to ``end`` (for the next incremental
        run)."""
        table = features_table
        doc = {
            "name": view,
            "start": start.isoformat() if start else None,
            "end": end.isoformat(),
            "rows": rows,
        }
        row = {
            "kind": _MATERIALIZED,
            "name": check_text("view", view, MAX_NAME),
            "content_hash": _hash(doc),
            "definition": doc,
            "owner": "",
            "description": "",
            "applied_at": datetime.now(UTC),
            "applied_by": check_text(
                "actor", actor if actor is not None else default_actor(), MAX_NAME
            ),
        }
        try:
            with self._write_engine.begin() as conn:
                conn.execute(
                    delete(table).where((table.c.kind == _MATERIALIZED) & (table.c.name == view))
                )
                conn.execute(table.insert().values(**row))
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot record a materialization in {self.url}: {exc}") from exc
