"""Retraining triggers on constructed inputs: the cooldown, the schedule, the volume of new
labels, drift and performance alarms of the champion's latest stored window; and the
``automation`` section's configuration errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from headway.automation.triggers import TriggerCheck, TriggerFiring, check_triggers
from headway.config.automation import AutomationConfig, RolloutConfig
from headway.config.monitoring import duration
from headway.controlplane.monitoring import StoredWindow

TRAINED = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def _config(**triggers: Any) -> AutomationConfig:
    base: dict[str, Any] = {"drift": False, "performance": False}
    base.update(triggers)
    return AutomationConfig.model_validate({"enabled": True, "triggers": base})


def _window(
    *,
    version: str = "1",
    end: datetime = TRAINED + timedelta(hours=5),
    dataset_drift: bool = False,
    alarms: list[str] | None = None,
    report: dict[str, Any] | None = None,
) -> StoredWindow:
    return StoredWindow(
        id=7,
        model="churn",
        version=version,
        window_start=end - timedelta(hours=1),
        window_end=end,
        rows=500,
        status="alarm",
        dataset_drift=dataset_drift,
        alarms=list(alarms or []),
        computed_at=end + timedelta(minutes=1),
        report=dict(report or {}),
    )


def _check(
    config: AutomationConfig,
    *,
    now: datetime = TRAINED + timedelta(hours=6),
    champion_version: str = "1",
    champion_trained_at: datetime = TRAINED,
    last_retrain_at: datetime | None = None,
    last_schedule_at: datetime | None = None,
    new_labelled_rows: int = 0,
    window: StoredWindow | None = None,
) -> TriggerCheck:
    return check_triggers(
        config,
        now=now,
        champion_version=champion_version,
        champion_trained_at=champion_trained_at,
        last_retrain_at=last_retrain_at,
        last_schedule_at=last_schedule_at,
        new_labelled_rows=new_labelled_rows,
        window=window,
    )


def _kinds(check: TriggerCheck) -> list[str]:
    return [f.kind for f in check.firings]


# -- cooldown ----------------------------------------------------------------------------


def test_cooldown_blocks_every_trigger_and_reports_its_end() -> None:
    config = AutomationConfig.model_validate(
        {"cooldown": "2h", "triggers": {"schedule": "0 3 * * *", "volume": 10}}
    )
    retrained = TRAINED + timedelta(hours=5)
    check = _check(
        config,
        now=retrained + timedelta(minutes=30),
        last_retrain_at=retrained,
        new_labelled_rows=10_000,
        window=_window(end=retrained + timedelta(minutes=20), dataset_drift=True),
    )
    assert check.firings == []
    assert check.fired is False
    assert check.cooling_down_until == retrained + timedelta(hours=2)


def test_after_the_cooldown_the_triggers_fire_again() -> None:
    config = AutomationConfig.model_validate({"cooldown": "2h", "triggers": {"volume": 10}})
    retrained = TRAINED + timedelta(hours=1)
    check = _check(
        config,
        now=retrained + timedelta(hours=2),
        last_retrain_at=retrained,
        new_labelled_rows=10,
    )
    assert check.cooling_down_until is None
    assert _kinds(check) == ["volume"]
    assert check.fired is True


def test_no_trigger_set_fires_nothing() -> None:
    check = _check(_config(), new_labelled_rows=1_000_000)
    assert check == TriggerCheck([], cooling_down_until=None)


# -- schedule ----------------------------------------------------------------------------


def test_schedule_fires_when_its_time_passed_after_the_champion_was_trained() -> None:
    # trained at 02:00, now 04:00: 03:00 passed since
    check = _check(_config(schedule="0 3 * * *"), now=TRAINED + timedelta(hours=2))
    assert _kinds(check) == ["schedule"]
    firing = check.firings[0]
    due = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
    assert firing.evidence == {"cron": "0 3 * * *", "due": due.isoformat()}
    assert due.isoformat() in firing.reason
    assert "0 3 * * *" in firing.reason


def test_schedule_does_not_fire_before_its_time() -> None:
    # trained at 02:00, now 02:59: the last 03:00 was the day before training
    check = _check(_config(schedule="0 3 * * *"), now=TRAINED + timedelta(minutes=59))
    assert check.firings == []


def test_schedule_does_not_fire_when_the_champion_was_trained_after_the_due_time() -> None:
    trained = datetime(2024, 5, 1, 3, 30, tzinfo=UTC)
    check = _check(
        _config(schedule="0 3 * * *"),
        now=datetime(2024, 5, 1, 23, 0, tzinfo=UTC),
        champion_trained_at=trained,
    )
    assert check.firings == []


def test_schedule_fires_once_per_due_time() -> None:
    config = _config(schedule="0 3 * * *")
    fired_at = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
    # the 03:00 fire was recorded: nothing more that day
    same_day = _check(
        config, now=datetime(2024, 5, 1, 20, 0, tzinfo=UTC), last_schedule_at=fired_at
    )
    assert same_day.firings == []
    # the next day's 03:00 fires again
    next_day = _check(config, now=datetime(2024, 5, 2, 3, 5, tzinfo=UTC), last_schedule_at=fired_at)
    assert _kinds(next_day) == ["schedule"]
    assert next_day.firings[0].evidence["due"] == "2024-05-02T03:00:00+00:00"


# -- volume ------------------------------------------------------------------------------


def test_volume_fires_at_the_volume() -> None:
    check = _check(_config(volume=500), new_labelled_rows=500)
    assert _kinds(check) == ["volume"]
    assert check.firings[0].evidence == {"new_labelled_rows": 500, "volume": 500}
    assert "500 labelled rows" in check.firings[0].reason


def test_volume_fires_above_the_volume() -> None:
    check = _check(_config(volume=500), new_labelled_rows=1234)
    assert check.firings[0].evidence["new_labelled_rows"] == 1234


def test_volume_does_not_fire_below_the_volume() -> None:
    check = _check(_config(volume=500), new_labelled_rows=499)
    assert check.firings == []


# -- drift -------------------------------------------------------------------------------


def test_drift_fires_for_a_fresh_drifted_window_of_the_champion() -> None:
    window = _window(
        dataset_drift=True,
        alarms=["dataset_drift"],
        report={"drifted_columns": ["tenure", "monthly_charges"]},
    )
    check = _check(_config(drift=True), window=window)
    assert _kinds(check) == ["drift"]
    firing = check.firings[0]
    assert firing.evidence == {
        "window_start": window.window_start.isoformat(),
        "window_end": window.window_end.isoformat(),
        "rows": 500,
        "alarms": ["dataset_drift"],
        "monitoring_id": 7,
        "drifted_columns": ["tenure", "monthly_charges"],
    }
    assert "tenure, monthly_charges" in firing.reason


def test_drift_without_drifted_columns_reports_an_empty_list() -> None:
    check = _check(_config(drift=True), window=_window(dataset_drift=True))
    assert check.firings[0].evidence["drifted_columns"] == []
    assert "(" not in check.firings[0].reason


def test_drift_ignores_a_window_of_another_version() -> None:
    window = _window(version="2", dataset_drift=True, report={"drifted_columns": ["tenure"]})
    check = _check(_config(drift=True), champion_version="1", window=window)
    assert check.firings == []


def test_drift_ignores_a_window_that_ended_before_the_champion_was_trained() -> None:
    window = _window(end=TRAINED - timedelta(minutes=1), dataset_drift=True)
    assert _check(_config(drift=True), window=window).firings == []


def test_drift_ignores_a_window_that_ended_before_the_last_retraining() -> None:
    config = AutomationConfig.model_validate(
        {"cooldown": "1h", "triggers": {"drift": True, "performance": False}}
    )
    retrained = TRAINED + timedelta(hours=3)
    old = _window(end=retrained - timedelta(minutes=10), dataset_drift=True)
    assert (
        _check(
            config, now=retrained + timedelta(hours=2), last_retrain_at=retrained, window=old
        ).firings
        == []
    )
    fresh = _window(end=retrained + timedelta(minutes=90), dataset_drift=True)
    check = _check(
        config, now=retrained + timedelta(hours=2), last_retrain_at=retrained, window=fresh
    )
    assert _kinds(check) == ["drift"]


def test_a_window_without_dataset_drift_does_not_fire_drift() -> None:
    window = _window(dataset_drift=False, report={"drifted_columns": ["tenure"]})
    assert _check(_config(drift=True), window=window).firings == []


def test_drift_false_turns_drift_off() -> None:
    window = _window(dataset_drift=True, report={"drifted_columns": ["tenure"]})
    assert _check(_config(drift=False), window=window).firings == []


def test_drift_is_on_by_default() -> None:
    config = AutomationConfig.model_validate({"enabled": True})
    assert config.triggers.drift is True
    window = _window(dataset_drift=True)
    assert _kinds(_check(config, window=window)) == ["drift"]


# -- performance -------------------------------------------------------------------------


@pytest.mark.parametrize("alarm", ["performance", "estimated_performance"])
def test_performance_fires_for_a_performance_alarm(alarm: str) -> None:
    window = _window(alarms=[alarm], report={"performance": {"accuracy": 0.61}})
    check = _check(_config(performance=True), window=window)
    assert _kinds(check) == ["performance"]
    firing = check.firings[0]
    assert firing.evidence["performance"] == {"accuracy": 0.61}
    assert firing.evidence["alarms"] == [alarm]
    assert firing.evidence["monitoring_id"] == 7
    assert firing.reason.startswith(f"{alarm} alarm")


def test_performance_does_not_fire_for_dataset_drift_alone() -> None:
    window = _window(dataset_drift=True, alarms=["dataset_drift"])
    assert _check(_config(performance=True), window=window).firings == []


def test_performance_names_both_alarms() -> None:
    window = _window(alarms=["dataset_drift", "performance", "estimated_performance"])
    check = _check(_config(performance=True), window=window)
    assert _kinds(check) == ["performance"]
    assert check.firings[0].reason.startswith("performance and estimated_performance alarm")


def test_performance_false_turns_performance_off() -> None:
    window = _window(alarms=["performance"])
    assert _check(_config(performance=False), window=window).firings == []


def test_performance_ignores_a_window_of_another_version() -> None:
    window = _window(version="3", alarms=["performance"])
    assert _check(_config(performance=True), window=window).firings == []


def test_all_triggers_fire_together_in_order() -> None:
    config = _config(schedule="0 3 * * *", volume=100, drift=True, performance=True)
    window = _window(
        dataset_drift=True,
        alarms=["dataset_drift", "performance"],
        report={"drifted_columns": ["tenure"]},
    )
    check = _check(config, new_labelled_rows=100, window=window)
    assert _kinds(check) == ["schedule", "volume", "drift", "performance"]
    assert all(isinstance(f, TriggerFiring) for f in check.firings)
    assert check.cooling_down_until is None


# -- configuration -----------------------------------------------------------------------


def test_duration_parses_and_refuses() -> None:
    assert duration("30s", "k") == timedelta(seconds=30)
    assert duration("2h", "k") == timedelta(hours=2)
    assert duration("7d", "k") == timedelta(days=7)
    with pytest.raises(ValueError, match=r"automation\.cooldown: 'soon'"):
        duration("soon", "automation.cooldown")


def test_defaults() -> None:
    config = AutomationConfig.model_validate({})
    assert config.enabled is False
    assert config.cooldown == "1h"
    assert config.triggers.schedule is None and config.triggers.volume is None
    assert [s.mode for s in config.rollout.steps] == ["shadow", "canary", "canary", "canary"]
    assert [s.weight for s in config.rollout.steps] == [0.0, 0.05, 0.25, 0.5]


def test_a_bad_cron_expression_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        AutomationConfig.model_validate({"triggers": {"schedule": "every day at three"}})
    assert "triggers.schedule" in str(info.value)
    assert "every day at three" in str(info.value)


def test_a_bad_cooldown_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        AutomationConfig.model_validate({"cooldown": "soon"})
    assert "cooldown" in str(info.value)
    assert "'soon' is not a duration" in str(info.value)


def test_a_canary_step_with_weight_zero_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        AutomationConfig.model_validate(
            {"rollout": {"steps": [{"mode": "canary", "weight": 0, "min_rows": 10}]}}
        )
    assert "rollout.steps" in str(info.value)
    assert "0 < weight < 1" in str(info.value)


def test_a_shadow_step_with_a_weight_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        AutomationConfig.model_validate({"rollout": {"steps": [{"mode": "shadow", "weight": 0.2}]}})
    assert "rollout.steps" in str(info.value)
    assert "shadow step takes no weight" in str(info.value)


def test_strategy_ab_needs_an_entity_column() -> None:
    with pytest.raises(ValidationError) as info:
        AutomationConfig.model_validate({"rollout": {"strategy": "ab"}})
    assert "rollout.ab_entity_column" in str(info.value)
    ok = RolloutConfig.model_validate({"strategy": "ab", "ab_entity_column": "customer_id"})
    assert ok.ab_entity_column == "customer_id"


def test_a_progressive_rollout_needs_a_step() -> None:
    with pytest.raises(ValidationError) as info:
        RolloutConfig.model_validate({"steps": []})
    assert "rollout.steps" in str(info.value)
