"""Delivery metrics of a model, read from its audit log: how often, how fast and how safely
new versions reach production.

:func:`delivery_metrics` is a pure function over :class:`AuditEvent` rows (no database);
:func:`read_delivery_metrics` reads the log and calls it. Every count, rate and median is
over the events of one model with ``at`` in the window ``(now - window_days, now]``; the
model's age and an incident still open look at the whole history up to ``now``. Events
after ``now`` are ignored, so that a past ``now`` shows the metrics as they stood then.

What each event means here (the contract of the governance and autopilot code):

- ``promoted``: the champion moved to ``version``; one deployment, one change.
- ``registered``: ``details["training_started_at"]`` and ``details["training_finished_at"]``
  (ISO 8601) when known; without the latter, training ended at the event's ``at``.
- ``approved``: a person reviewed the version; review time = approved - registered.
- ``rollout_rolled_back``: a rollout took its candidate out; a change, and a failed one.
- ``rolled_back``: a person moved the champion back; a failed change (the change itself
  was counted at its ``promoted``).
- ``trigger_fired`` of kind ``drift`` or ``performance``: the champion is unhealthy; an
  incident opens (unless one is open) and is recovered at the next ``promoted`` or
  ``rolled_back``.
- ``retrain_started``: one retraining, by ``details["trigger"]``.

Events missing a detail, or a promoted version with no ``registered`` event, are skipped
for the metric that needs it; nothing here raises on odd history.

Example:
    >>> metrics = read_delivery_metrics(project.control_db_url, model="churn")  # doctest: +SKIP
    >>> metrics.deployment_frequency_per_day  # doctest: +SKIP
    0.1
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from headway.controlplane.events import AuditEvent

if TYPE_CHECKING:
    from headway.controlplane.audit import AuditLog

__all__ = ["DeliveryMetrics", "delivery_metrics", "read_delivery_metrics"]

# Triggers that say the champion is doing badly (the others ask for a routine retrain).
INCIDENT_TRIGGERS = frozenset({"drift", "performance"})
# Events that end an incident: the champion was replaced or moved back.
_RECOVERIES = frozenset({"promoted", "rolled_back"})
# Events that end a rollout, whatever its outcome.
_ROLLOUT_ENDS = ("rollout_promoted", "rollout_rolled_back", "rollout_expired", "rollout_aborted")


@dataclass(frozen=True)
class DeliveryMetrics:
    """How a model's versions reached production over a window of days.

    Attributes:
        model: registered model name.
        as_of: the end of the window (timezone-aware UTC).
        window_days: the window's length in days.
        deployments: ``promoted`` events in the window.
        deployment_frequency_per_day: ``deployments / window_days``.
        lead_time_from_training_start_seconds: median, over the deployments in the window,
            of promotion time minus the version's training start (``None``: none known).
        lead_time_from_training_end_seconds: the same from the training end.
        last_lead_time_from_training_end_seconds: the latest deployment's lead time from
            the training end (``None`` when its version's registration is not in the log).
        rollouts: rollouts that ended in the window (promoted, rolled back, expired or
            aborted).
        rollouts_promoted: those that ended with the candidate promoted.
        rollouts_rolled_back: those that ended with the candidate taken out.
        rollouts_expired: those that ended without a decision.
        rollouts_aborted: those a person stopped.
        changes: ``deployments + rollouts_rolled_back``.
        failed_changes: ``rollouts_rolled_back`` plus ``rolled_back`` events in the window.
        change_failure_rate: ``failed_changes / changes``, at most 1 (a window may hold
            the rollback of a promotion made before it); ``None`` when ``changes`` is 0.
        incidents_recovered: drift or performance incidents recovered in the window.
        mean_time_to_recovery_seconds: their mean duration; ``None`` when there is none.
        open_incident_seconds: age of the incident still open at ``as_of``, if any.
        model_age_seconds: time since the latest ``promoted`` event (whole history);
            ``None`` when the model was never promoted.
        retrains: ``retrain_started`` events in the window.
        retrains_by_trigger: those by ``details["trigger"]`` (``"unknown"`` when missing).
        review_time_seconds: median, over versions approved in the window, of approval
            time minus registration time; ``None`` when there is none.
    """

    model: str
    as_of: datetime
    window_days: float
    deployments: int = 0
    deployment_frequency_per_day: float = 0.0
    lead_time_from_training_start_seconds: float | None = None
    lead_time_from_training_end_seconds: float | None = None
    last_lead_time_from_training_end_seconds: float | None = None
    rollouts: int = 0
    rollouts_promoted: int = 0
    rollouts_rolled_back: int = 0
    rollouts_expired: int = 0
    rollouts_aborted: int = 0
    changes: int = 0
    failed_changes: int = 0
    change_failure_rate: float | None = None
    incidents_recovered: int = 0
    mean_time_to_recovery_seconds: float | None = None
    open_incident_seconds: float | None = None
    model_age_seconds: float | None = None
    retrains: int = 0
    retrains_by_trigger: Mapping[str, int] = field(default_factory=dict)
    review_time_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every attribute under its name, ``as_of`` in ISO 8601."""
        return {
            "model": self.model,
            "as_of": self.as_of.isoformat(),
            "window_days": self.window_days,
            "deployments": self.deployments,
            "deployment_frequency_per_day": self.deployment_frequency_per_day,
            "lead_time_from_training_start_seconds": self.lead_time_from_training_start_seconds,
            "lead_time_from_training_end_seconds": self.lead_time_from_training_end_seconds,
            "last_lead_time_from_training_end_seconds": (
                self.last_lead_time_from_training_end_seconds
            ),
            "rollouts": self.rollouts,
            "rollouts_promoted": self.rollouts_promoted,
            "rollouts_rolled_back": self.rollouts_rolled_back,
            "rollouts_expired": self.rollouts_expired,
            "rollouts_aborted": self.rollouts_aborted,
            "changes": self.changes,
            "failed_changes": self.failed_changes,
            "change_failure_rate": self.change_failure_rate,
            "incidents_recovered": self.incidents_recovered,
            "mean_time_to_recovery_seconds": self.mean_time_to_recovery_seconds,
            "open_incident_seconds": self.open_incident_seconds,
            "model_age_seconds": self.model_age_seconds,
            "retrains": self.retrains,
            "retrains_by_trigger": dict(sorted(self.retrains_by_trigger.items())),
            "review_time_seconds": self.review_time_seconds,
        }


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _time(value: Any) -> datetime | None:
    """An ISO 8601 string (or a datetime) as a UTC time; ``None`` when it is neither."""
    if isinstance(value, datetime):
        return _utc(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    """``later - earlier`` in seconds; ``None`` when ``earlier`` is unknown or after
    ``later`` (inconsistent history is left out rather than counted as negative)."""
    if earlier is None:
        return None
    seconds = (later - earlier).total_seconds()
    return seconds if seconds >= 0 else None


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _detail(event: AuditEvent, key: str) -> Any:
    details = event.details if isinstance(event.details, Mapping) else {}
    return details.get(key)


def delivery_metrics(
    events: Sequence[AuditEvent],
    *,
    model: str,
    now: datetime,
    window_days: float = 30.0,
) -> DeliveryMetrics:
    """The delivery metrics of ``model`` over ``(now - window_days, now]``.

    Args:
        events: audit events in any order; those of other models are ignored.
        model: registered model name.
        now: the end of the window, timezone-aware.
        window_days: the window's length in days, positive.

    Returns:
        The metrics; zeros and ``None`` for an empty history.

    Raises:
        ValueError: ``now`` is naive, ``window_days`` is not a positive finite number, or
            ``model`` is empty.

    Example:
        >>> delivery_metrics([], model="churn", now=datetime.now(UTC)).deployments
        0
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now={now.isoformat()} must be timezone-aware (e.g. datetime.now(UTC))")
    if (
        isinstance(window_days, bool)
        or not isinstance(window_days, int | float)
        or not math.isfinite(window_days)
        or window_days <= 0
    ):
        raise ValueError(f"window_days must be a positive number of days, got {window_days!r}")
    now = now.astimezone(UTC)
    start = now - timedelta(days=window_days)
    history = sorted(
        (e for e in events if e.model == model and _utc(e.at) <= now),
        key=lambda e: (_utc(e.at), e.id),
    )
    window = [e for e in history if _utc(e.at) > start]
    count = Counter(e.action for e in window)

    registered: dict[str, AuditEvent] = {}
    for event in history:
        if event.action == "registered" and event.version is not None:
            registered.setdefault(event.version, event)

    # Lead times of the deployments in the window.
    from_start: list[float] = []
    from_end: list[float] = []
    last_from_end: float | None = None
    for event in (e for e in window if e.action == "promoted"):
        found = registered.get(event.version or "")
        end = None
        if found is not None:
            end = _time(_detail(found, "training_finished_at")) or _utc(found.at)
            begun = _seconds(_utc(event.at), _time(_detail(found, "training_started_at")))
            if begun is not None:
                from_start.append(begun)
        last_from_end = _seconds(_utc(event.at), end)
        if last_from_end is not None:
            from_end.append(last_from_end)

    # Incidents: opened by a drift or performance trigger, recovered by a champion move.
    open_since: datetime | None = None
    recoveries: list[float] = []
    for event in history:
        at = _utc(event.at)
        if event.action == "trigger_fired":
            trigger = _detail(event, "trigger")
            if open_since is None and isinstance(trigger, str) and trigger in INCIDENT_TRIGGERS:
                open_since = at
        elif event.action in _RECOVERIES and open_since is not None:
            if at > start:
                recoveries.append((at - open_since).total_seconds())
            open_since = None

    promotions = [e for e in history if e.action == "promoted"]
    deployments = count["promoted"]
    changes = deployments + count["rollout_rolled_back"]
    failed = count["rollout_rolled_back"] + count["rolled_back"]
    reviews = [
        seconds
        for e in window
        if e.action == "approved" and (found := registered.get(e.version or "")) is not None
        if (seconds := _seconds(_utc(e.at), _utc(found.at))) is not None
    ]
    retrains = Counter(
        str(_detail(e, "trigger") or "unknown") for e in window if e.action == "retrain_started"
    )
    return DeliveryMetrics(
        model=model,
        as_of=now,
        window_days=float(window_days),
        deployments=deployments,
        deployment_frequency_per_day=deployments / window_days,
        lead_time_from_training_start_seconds=_median(from_start),
        lead_time_from_training_end_seconds=_median(from_end),
        last_lead_time_from_training_end_seconds=last_from_end,
        rollouts=sum(count[action] for action in _ROLLOUT_ENDS),
        rollouts_promoted=count["rollout_promoted"],
        rollouts_rolled_back=count["rollout_rolled_back"],
        rollouts_expired=count["rollout_expired"],
        rollouts_aborted=count["rollout_aborted"],
        changes=changes,
        failed_changes=failed,
        change_failure_rate=min(1.0, failed / changes) if changes else None,
        incidents_recovered=len(recoveries),
        mean_time_to_recovery_seconds=statistics.fmean(recoveries) if recoveries else None,
        open_incident_seconds=_seconds(now, open_since),
        model_age_seconds=(now - _utc(promotions[-1].at)).total_seconds() if promotions else None,
        retrains=sum(retrains.values()),
        retrains_by_trigger=dict(sorted(retrains.items())),
        review_time_seconds=_median(reviews),
    )


def read_delivery_metrics(
    source: AuditLog | str,
    *,
    model: str,
    now: datetime | None = None,
    window_days: float = 30.0,
) -> DeliveryMetrics:
    """Read ``model``'s audit events and compute :func:`delivery_metrics`.

    Reads the model's whole history (the model's age and an open incident may predate the
    window); governance decisions are few, so this stays one small query.

    Args:
        source: an open :class:`~headway.controlplane.AuditLog` (left open), or the URL of
            a control-plane database (opened and closed here).
        model: registered model name.
        now: the end of the window, timezone-aware; defaults to now (UTC).
        window_days: the window's length in days, positive.

    Raises:
        ValueError: see :func:`delivery_metrics`.
        ConfigError: the URL is malformed or its driver is not installed.
        HeadwayError: the database cannot be read.
    """
    from headway.controlplane.audit import AuditLog

    when = datetime.now(UTC) if now is None else now
    if isinstance(source, AuditLog):
        events = source.events(model=model)
    else:
        with AuditLog(source) as log:
            events = log.events(model=model)
    return delivery_metrics(events, model=model, now=when, window_days=window_days)
