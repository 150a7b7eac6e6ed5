"""Retraining triggers: schedule, data volume, drift, performance, and the cooldown.

:func:`check_triggers` is a pure function of what the controller read (the champion's
training time, the last retraining, the labelled rows since, the champion's latest
monitoring window) and the project's ``automation.triggers``; it returns the triggers that
fire now, each with its evidence, or none during the cooldown after a retraining.

- ``schedule``: a cron expression (UTC, parsed by croniter); fires when a scheduled time
  passed since the last scheduled retraining (or since the champion was trained).
- ``volume``: fires when at least ``volume`` labelled predictions arrived since the
  champion was trained.
- ``drift``: fires when the champion's latest stored window (``headway monitor``) shows
  dataset drift and ended after the last retraining (one window fires once).
- ``performance``: the same for a ``performance`` or ``estimated_performance`` alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headway.config.automation import AutomationConfig
from headway.config.monitoring import duration
from headway.controlplane.monitoring import StoredWindow

__all__ = ["TriggerCheck", "TriggerFiring", "check_triggers"]

_PERFORMANCE_ALARMS = ("performance", "estimated_performance")


@dataclass(frozen=True)
class TriggerFiring:
    """One trigger that fires: its kind, why, and its evidence (JSON-ready)."""

    kind: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerCheck:
    """The triggers that fire now (in the order above), or why none may."""

    firings: list[TriggerFiring]
    cooling_down_until: datetime | None = None

    @property
    def fired(self) -> bool:
        return bool(self.firings)


def check_triggers(
    config: AutomationConfig,
    *,
    now: datetime,
    champion_version: str,
    champion_trained_at: datetime,
    last_retrain_at: datetime | None,
    last_schedule_at: datetime | None,
    new_labelled_rows: int,
    window: StoredWindow | None,
) -> TriggerCheck:
    """The triggers that fire at ``now`` (see the module)."""
    if last_retrain_at is not None:
        until = last_retrain_at + duration(config.cooldown, "automation.cooldown")
        if now < until:
            return TriggerCheck([], cooling_down_until=until)
    triggers = config.triggers
    since = max(champion_trained_at, last_retrain_at or champion_trained_at)
    firings: list[TriggerFiring] = []
    if triggers.schedule:
        from croniter import croniter

        due = croniter(triggers.schedule, now).get_prev(datetime)
        after = max(champion_trained_at, last_schedule_at or champion_trained_at)
        if due > after:
            firings.append(
                TriggerFiring(
                    "schedule",
                    f"scheduled at {due.isoformat()} ({triggers.schedule})",
                    {"cron": triggers.schedule, "due": due.isoformat()},
                )
            )
    if triggers.volume is not None and new_labelled_rows >= triggers.volume:
        firings.append(
            TriggerFiring(
                "volume",
                f"{new_labelled_rows} labelled rows since the champion was trained "
                f"(triggers.volume {triggers.volume})",
                {"new_labelled_rows": new_labelled_rows, "volume": triggers.volume},
            )
        )
    fresh = window is not None and window.version == champion_version and window.window_end > since
    if fresh and window is not None:
        about = {
            "window_start": window.window_start.isoformat(),
            "window_end": window.window_end.isoformat(),
            "rows": window.rows,
            "alarms": list(window.alarms),
            "monitoring_id": window.id,
        }
        if triggers.drift and window.dataset_drift:
            drifted = window.report.get("drifted_columns") or []
            firings.append(
                TriggerFiring(
                    "drift",
                    f"dataset drift in the window ending {window.window_end.isoformat()}"
                    + (f" ({', '.join(map(str, drifted[:5]))})" if drifted else ""),
                    {**about, "drifted_columns": list(drifted)},
                )
            )
        alarmed = [a for a in window.alarms if a in _PERFORMANCE_ALARMS]
        if triggers.performance and alarmed:
            firings.append(
                TriggerFiring(
                    "performance",
                    f"{' and '.join(alarmed)} alarm in the window ending "
                    f"{window.window_end.isoformat()}",
                    {**about, "performance": window.report.get("performance")},
                )
            )
    return TriggerCheck(firings)
