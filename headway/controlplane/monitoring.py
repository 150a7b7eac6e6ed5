"""Monitoring results: the windows ``headway monitor`` tested, in the control-plane store.

One row of ``headway_monitoring`` per model, version and window: the verdicts as columns
(rows, status, dataset drift, alarms) and the whole window report as JSON (see
:class:`headway.monitoring.monitor.WindowReport`). Saving a window that is already stored
(same model, version, start and end) replaces it, so running the monitor twice over the
same period leaves one row per window. The prediction server reads the latest window of
its model to publish drift and performance gauges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from headway.controlplane._store import ControlPlaneStore, check_text
from headway.controlplane.schema import MAX_NAME, MAX_VERSION, monitoring_table
from headway.exceptions import HeadwayError

__all__ = ["MonitoringStore", "StoredWindow"]


@dataclass(frozen=True)
class StoredWindow:
    """One stored window (see the module)."""

    id: int
    model: str
    version: str
    window_start: datetime
    window_end: datetime
    rows: int
    status: str
    dataset_drift: bool
    alarms: list[str]
    computed_at: datetime
    report: dict[str, Any]


def _utc(value: datetime, key: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{key} {value.isoformat()} has no time zone: give UTC")
    return value.astimezone(UTC)


class MonitoringStore(ControlPlaneStore):
    """The stored monitoring windows of a project's models.

    Args:
        url: SQLAlchemy URL of the control-plane database.

    Raises:
        ConfigError: the URL is malformed or its driver is not installed.
        HeadwayError: the database cannot be reached or upgraded.
    """

    def save(self, report: dict[str, Any]) -> int:
        """Store a window report (:meth:`WindowReport.to_dict`), replacing the same window
        of the same version; returns its row id.

        Raises:
            ValueError: the report lacks ``model``/``window`` or its times have no zone.
            HeadwayError: the database refused the write.
        """
        try:
            model = check_text("model.name", report["model"]["name"], MAX_NAME)
            version = check_text("model.version", str(report["model"]["version"]), MAX_VERSION)
            start = _utc(datetime.fromisoformat(report["window"]["start"]), "window.start")
            end = _utc(datetime.fromisoformat(report["window"]["end"]), "window.end")
            rows = int(report["window"]["rows"])
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"a window report needs model.name, model.version and window: {exc}"
            ) from exc
        document = json.loads(json.dumps(report, allow_nan=False, default=str))
        same = and_(
            monitoring_table.c.model == model,
            monitoring_table.c.version == version,
            monitoring_table.c.window_start == start,
            monitoring_table.c.window_end == end,
        )
        values = {
            "model": model,
            "version": version,
            "window_start": start,
            "window_end": end,
            "rows": rows,
            "status": str(report.get("status", "ok"))[:16],
            "dataset_drift": int(bool((report.get("dataset_drift") or {}).get("drifted"))),
            "alarms": list(report.get("alarms") or []),
            "computed_at": datetime.now(UTC),
            "report": document,
        }
        try:
            with self._write_engine.begin() as conn:
                conn.execute(delete(monitoring_table).where(same))
                result = conn.execute(insert(monitoring_table).values(**values))
                key = result.inserted_primary_key
                assert key is not None
                return int(key[0])
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot store the window of {model} in {self.url}: {exc}") from exc

    def windows(
        self,
        model: str,
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredWindow]:
        """Stored windows of ``model`` ending after ``since``, newest first."""
        check_text("model", model, MAX_NAME)
        query = select(monitoring_table).where(monitoring_table.c.model == model)
        if since is not None:
            query = query.where(monitoring_table.c.window_end > _utc(since, "since"))
        query = query.order_by(monitoring_table.c.window_end.desc(), monitoring_table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise HeadwayError(
                f"cannot read the windows of {model} from {self.url}: {exc}"
            ) from exc
        return [
            StoredWindow(
                id=int(r["id"]),
                model=r["model"],
                version=r["version"],
                window_start=r["window_start"],
                window_end=r["window_end"],
                rows=int(r["rows"]),
                status=r["status"],
                dataset_drift=bool(r["dataset_drift"]),
                alarms=list(r["alarms"] or []),
                computed_at=r["computed_at"],
                report=dict(r["report"] or {}),
            )
            for r in rows
        ]

    def latest(self, model: str) -> StoredWindow | None:
        """The most recent window of ``model`` (by end), or ``None``."""
        found = self.windows(model, limit=1)
        return found[0] if found else None
