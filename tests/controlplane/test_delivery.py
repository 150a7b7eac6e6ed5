"""Delivery metrics from the audit log: a history recorded into a real SQLite control-plane
database with known times, read back, and every metric checked to the second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headway.controlplane import AuditEvent, AuditLog
from headway.controlplane.delivery import DeliveryMetrics, delivery_metrics, read_delivery_metrics

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
DAY = 86400.0


def ago(days: float = 0, *, hours: float = 0, seconds: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours, seconds=seconds)


def iso(when: datetime) -> str:
    return when.isoformat()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(f"sqlite:///{tmp_path}/control.db") as opened:
        yield opened


def put(
    log: AuditLog,
    action: str,
    at: datetime,
    version: str | None = None,
    *,
    model: str = "churn",
    **details: Any,
) -> None:
    log.record(action, model=model, version=version, details=details, at=at, actor="ops")


def record_history(log: AuditLog) -> None:
    """v1 long ago; a drift incident recovered 120 s later by v2's promotion; v3's rollout
    rolled back; v4 promoted by a rollout; retrains by trigger; two reviews."""
    put(log, "registered", ago(60), "1", training_started_at=iso(ago(60, hours=1)))
    put(log, "promoted", ago(59), "1", alias="champion", previous=None)

    put(
        log,
        "registered",
        ago(20),
        "2",
        training_started_at=iso(ago(20, hours=2)),
        training_finished_at=iso(ago(20, hours=0.5)),
    )
    put(log, "approved", ago(20, hours=-1), "2")  # reviewed in 1 h
    put(log, "trigger_fired", ago(19, seconds=120), trigger="drift", evidence={"share": 0.5})
    put(log, "retrain_started", ago(19, seconds=119), trigger="drift")
    put(log, "promoted", ago(19), "2", alias="champion", previous="1")

    put(log, "trigger_fired", ago(14), trigger="schedule", evidence={})
    put(log, "retrain_started", ago(14), trigger="schedule")
    put(log, "registered", ago(10), "3")  # no training times: training ended at `at`
    put(log, "rollout_started", ago(10, hours=-1), "3", rollout_id=1)
    put(log, "rollout_rolled_back", ago(10, hours=-2), "3", rollout_id=1)

    put(log, "retrain_started", ago(6), trigger="schedule")
    put(log, "registered", ago(5), "4", training_started_at=iso(ago(5, hours=1)))
    put(log, "approved", ago(5, hours=-2), "4")  # reviewed in 2 h
    put(log, "rollout_started", ago(5, hours=-3), "4", rollout_id=2)
    put(log, "rollout_promoted", ago(4), "4", rollout_id=2)
    put(log, "promoted", ago(4), "4", alias="champion", previous="2")

    # Another model's events: never counted for churn.
    put(log, "registered", ago(3), "1", model="fraud")
    put(log, "promoted", ago(2), "1", model="fraud", alias="champion", previous=None)
    put(log, "trigger_fired", ago(2), model="fraud", trigger="performance", evidence={})
    put(log, "rollout_rolled_back", ago(1), "2", model="fraud", rollout_id=3)


def test_every_metric_of_a_constructed_history(log: AuditLog) -> None:
    record_history(log)

    got = read_delivery_metrics(log, model="churn", now=NOW, window_days=30)

    assert got == DeliveryMetrics(
        model="churn",
        as_of=NOW,
        window_days=30.0,
        deployments=2,
        deployment_frequency_per_day=2 / 30,
        # v2: 1 d + 2 h from its start, 1 d + 30 min from its end; v4: 1 d + 1 h, 1 d.
        lead_time_from_training_start_seconds=(DAY + 7200 + DAY + 3600) / 2,
        lead_time_from_training_end_seconds=(DAY + 1800 + DAY) / 2,
        last_lead_time_from_training_end_seconds=DAY,
        rollouts=2,
        rollouts_promoted=1,
        rollouts_rolled_back=1,
        changes=3,
        failed_changes=1,
        change_failure_rate=1 / 3,
        incidents_recovered=1,
        mean_time_to_recovery_seconds=120.0,
        open_incident_seconds=None,
        model_age_seconds=4 * DAY,
        retrains=3,
        retrains_by_trigger={"drift": 1, "schedule": 2},
        review_time_seconds=(3600 + 7200) / 2,
    )


def test_as_dict_is_json_with_units_in_the_names(log: AuditLog) -> None:
    record_history(log)

    doc = read_delivery_metrics(log, model="churn", now=NOW).as_dict()

    assert json.loads(json.dumps(doc)) == doc
    assert doc["model"] == "churn"
    assert doc["as_of"] == "2024-06-30T12:00:00+00:00"
    assert doc["window_days"] == 30.0
    assert doc["deployment_frequency_per_day"] == pytest.approx(2 / 30)
    assert doc["lead_time_from_training_end_seconds"] == DAY + 900
    assert doc["mean_time_to_recovery_seconds"] == 120.0
    assert doc["change_failure_rate"] == pytest.approx(1 / 3)
    assert doc["retrains_by_trigger"] == {"drift": 1, "schedule": 2}
    durations = [k for k in doc if k.endswith("_seconds")]
    assert len(durations) == 7


def test_an_empty_history_gives_zeros_and_nones(log: AuditLog) -> None:
    got = read_delivery_metrics(log, model="churn", now=NOW)

    assert got == DeliveryMetrics(model="churn", as_of=NOW, window_days=30.0)
    doc = got.as_dict()
    assert doc["deployments"] == 0 and doc["deployment_frequency_per_day"] == 0.0
    assert doc["change_failure_rate"] is None and doc["model_age_seconds"] is None
    assert doc["retrains_by_trigger"] == {}


def test_a_shorter_window_counts_only_its_events(log: AuditLog) -> None:
    record_history(log)

    got = read_delivery_metrics(log, model="churn", now=NOW, window_days=7)

    assert (got.deployments, got.deployment_frequency_per_day) == (1, 1 / 7)
    assert got.lead_time_from_training_start_seconds == DAY + 3600
    assert got.lead_time_from_training_end_seconds == DAY
    assert (got.rollouts, got.rollouts_promoted, got.rollouts_rolled_back) == (1, 1, 0)
    assert (got.changes, got.failed_changes, got.change_failure_rate) == (1, 0, 0.0)
    assert got.incidents_recovered == 0 and got.mean_time_to_recovery_seconds is None
    assert got.retrains == 1 and got.retrains_by_trigger == {"schedule": 1}
    assert got.review_time_seconds == 7200
    assert got.model_age_seconds == 4 * DAY  # the whole history, not the window


def test_a_past_now_ignores_what_came_after(log: AuditLog) -> None:
    record_history(log)

    then = ago(10, hours=-1)  # v3's rollout started, not yet ended
    got = read_delivery_metrics(log, model="churn", now=then, window_days=30)

    assert got.as_of == then
    assert got.deployments == 1  # v2 (v1 is 49 days before)
    assert got.rollouts == 0 and got.change_failure_rate == 0.0
    assert got.model_age_seconds == 9 * DAY + 3600
    assert got.mean_time_to_recovery_seconds == 120.0


def test_an_unrecovered_incident_is_open_and_a_second_trigger_does_not_restart_it(
    log: AuditLog,
) -> None:
    put(log, "promoted", ago(9), "1", alias="champion", previous=None)
    put(log, "trigger_fired", ago(3), trigger="performance", evidence={})
    put(log, "trigger_fired", ago(2), trigger="drift", evidence={})
    put(log, "trigger_fired", ago(1), trigger="volume", evidence={})

    got = read_delivery_metrics(log, model="churn", now=NOW)

    assert got.open_incident_seconds == 3 * DAY
    assert got.incidents_recovered == 0 and got.mean_time_to_recovery_seconds is None


def test_a_rollback_by_hand_is_a_failed_change_and_a_recovery(log: AuditLog) -> None:
    put(log, "promoted", ago(9), "1", alias="champion", previous=None)
    put(log, "promoted", ago(5), "2", alias="champion", previous="1")
    put(log, "trigger_fired", ago(4), trigger="performance", evidence={})
    put(log, "rolled_back", ago(4, seconds=-600), "1", **{"from": "2", "to": "1"})

    got = read_delivery_metrics(log, model="churn", now=NOW)

    assert (got.changes, got.failed_changes, got.change_failure_rate) == (2, 1, 0.5)
    assert got.mean_time_to_recovery_seconds == 600.0
    assert got.open_incident_seconds is None
    assert got.model_age_seconds == 5 * DAY  # since the latest promotion


def test_odd_events_are_skipped_not_fatal(log: AuditLog) -> None:
    put(log, "registered", ago(3), "7", training_started_at="yesterday", training_finished_at=5)
    put(log, "promoted", ago(2), "7")  # no details at all
    put(log, "promoted", ago(1), "8")  # never registered
    put(log, "approved", ago(1), "9")  # never registered
    put(log, "trigger_fired", ago(1))  # no trigger kind
    put(log, "trigger_fired", ago(1), trigger={"kind": "drift"})
    put(log, "retrain_started", ago(1))
    put(log, "rollout_expired", ago(1), "8")
    put(log, "rollout_aborted", ago(1), "8")

    got = read_delivery_metrics(log, model="churn", now=NOW)

    assert got.deployments == 2
    assert got.lead_time_from_training_start_seconds is None  # not a time: unknown
    assert got.lead_time_from_training_end_seconds == DAY  # from v7's registration
    assert got.last_lead_time_from_training_end_seconds is None  # v8: unknown
    assert (got.rollouts, got.rollouts_expired, got.rollouts_aborted) == (2, 1, 1)
    assert got.change_failure_rate == 0.0
    assert got.open_incident_seconds is None
    assert got.retrains_by_trigger == {"unknown": 1}
    assert got.review_time_seconds is None


def test_the_pure_function_takes_events_in_any_order() -> None:
    def event(number: int, action: str, at: datetime, **details: Any) -> AuditEvent:
        return AuditEvent(
            id=number, at=at, action=action, model="churn", version="1", actor="ops",
            reason="", details=details,
        )  # fmt: skip

    events = [
        event(3, "promoted", ago(1)),
        event(1, "registered", ago(2)),
        event(2, "trigger_fired", ago(1, seconds=30), trigger="drift"),
    ]

    got = delivery_metrics(events, model="churn", now=NOW, window_days=2)

    assert got.lead_time_from_training_end_seconds == DAY
    assert got.mean_time_to_recovery_seconds == 30.0


def test_read_from_a_url_opens_and_closes_the_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/control.db"
    with AuditLog(url) as log:
        put(log, "promoted", ago(1), "1")

    got = read_delivery_metrics(url, model="churn", now=NOW)

    assert got.deployments == 1 and got.model_age_seconds == DAY


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"now": datetime(2024, 6, 30)}, "must be timezone-aware"),
        ({"window_days": 0}, "positive number of days, got 0"),
        ({"window_days": float("nan")}, "positive number of days"),
        ({"model": ""}, "model must be a non-empty string"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"model": "churn", "now": NOW, "window_days": 30, **kwargs}
    with pytest.raises(ValueError, match=message):
        delivery_metrics([], **arguments)
