"""Leases: one holder at a time per name, for as long as it keeps renewing.

The autopilot of a project takes the lease ``autopilot:<model>`` before it acts, and renews
it on every pass. A second controller (another pod, a second terminal) finds it held and
waits; when the holder stops renewing (it was killed, its machine died), the lease expires
and the next controller takes it over. Taking and renewing happen in one transaction under
the row's write lock (SQLite's write lock, a PostgreSQL row lock), so two processes never
both hold one name. Times come from the caller's clock: controllers on several machines
need clocks within a small part of the lease's length of each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.schema import MAX_NAME, leases_table
from headway.exceptions import HeadwayError

__all__ = ["Lease", "LeaseStore"]

_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class Lease:
    """A lease as stored: who holds ``name`` since when, until when."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "holder": self.holder,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


class LeaseStore(ControlPlaneStore):
    """The leases of a project (see the module)."""

    def acquire(
        self, name: str, *, holder: str, ttl: timedelta, now: datetime | None = None
    ) -> Lease | None:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``.

        Returns:
            The lease now held by ``holder``, or ``None`` when another holder's lease has
            not expired (nothing is changed then).

        Raises:
            ValueError: an empty name or holder, a ttl that is not positive.
            HeadwayError: the database refused.
        """
        check_text("name", name, MAX_NAME)
        check_text("holder", holder, MAX_NAME)
        if ttl.total_seconds() <= 0:
            raise ValueError(f"ttl must be longer than zero, got {ttl}")
        at = (now or datetime.now(UTC)).astimezone(UTC)
        table = leases_table
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with self._write_engine.begin() as conn:
                    row = (
                        conn.execute(select(table).where(table.c.name == name).with_for_update())
                        .mappings()
                        .one_or_none()
                    )
                    if row is None:
                        lease = Lease(name, holder, at, at + ttl)
                        conn.execute(table.insert().values(**lease.__dict__))
                        return lease
                    current = _from_row(row)
                    if current.holder != holder and current.expires_at > at:
                        return None
                    acquired = current.acquired_at if current.holder == holder else at
                    lease = Lease(name, holder, acquired, at + ttl)
                    conn.execute(
                        table.update()
                        .where(table.c.name == name)
                        .values(holder=holder, acquired_at=acquired, expires_at=lease.expires_at)
                    )
                    return lease
            except IntegrityError as exc:  # another process inserted the row first
                if attempt < _WRITE_ATTEMPTS:
                    continue
                raise HeadwayError(f"cannot take lease {name} in {self.url}: {exc}") from exc
            except SQLAlchemyError as exc:
                raise HeadwayError(f"cannot take lease {name} in {self.url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, name: str) -> Lease | None:
        """The lease on ``name`` (expired or not), or ``None``."""
        try:
            with self._engine.connect() as conn:
                row = (
                    conn.execute(select(leases_table).where(leases_table.c.name == name))
                    .mappings()
                    .one_or_none()
                )
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read lease {name} from {self.url}: {exc}") from exc
        return None if row is None else _from_row(row)

    def release(self, name: str, *, holder: str) -> bool:
        """Give ``name`` up, if ``holder`` holds it; returns whether it did."""
        table = leases_table
        try:
            with self._write_engine.begin() as conn:
                gone = conn.execute(
                    table.delete().where(and_(table.c.name == name, table.c.holder == holder))
                ).rowcount
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot release lease {name} in {self.url}: {exc}") from exc
        return bool(gone)


def _from_row(row: Any) -> Lease:
    return Lease(
        name=row["name"],
        holder=row["holder"],
        acquired_at=row["acquired_at"],
        expires_at=row["expires_at"],
    )
