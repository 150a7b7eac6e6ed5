"""The delivery gauges: the metrics of an audit history recorded into a real control-plane
database, published on the server's registry and read back from the exposition text, and a
real ``headway serve`` that reads its model's audit log and publishes them on /metrics."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from headway import PipelineResult, Project
from headway.controlplane import AuditLog
from headway.controlplane.delivery import read_delivery_metrics
from headway.serving.metrics import ServingMetrics
from tests.helpers import serving

DAY = 86400.0
NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
GAUGES = (
    "headway_delivery_deployments_per_day",
    "headway_delivery_lead_time_seconds",
    "headway_delivery_change_failure_ratio",
    "headway_delivery_mean_time_to_recovery_seconds",
    "headway_delivery_model_age_seconds",
)


def _values(text: str) -> dict[str, dict[str, float]]:
    """The delivery gauges of an exposition: name -> model label -> value."""
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GAUGES:
                out.setdefault(sample.name, {})[sample.labels["model"]] = sample.value
    return out


def _record(url: str, model: str, now: datetime) -> None:
    """Two deployments a day after training ended, one rollout rolled back, a drift
    incident recovered after 300 s; the latest deployment a day ago."""
    with AuditLog(url) as log:

        def put(action: str, ago: timedelta, version: str | None = None, **details: Any) -> None:
            log.record(
                action, model=model, version=version, details=details, at=now - ago, actor="ops"
            )

        put(
            "registered",
            timedelta(days=9),
            "1",
            training_finished_at=(now - timedelta(days=10)).isoformat(),
        )
        put("promoted", timedelta(days=8), "1", alias="champion", previous=None)
        put("registered", timedelta(days=4), "2")
        put("rollout_rolled_back", timedelta(days=3), "2", rollout_id=1)
        put("registered", timedelta(days=2), "3")
        put("trigger_fired", timedelta(days=1, seconds=300), trigger="drift", evidence={})
        put("promoted", timedelta(days=1), "3", alias="champion", previous="1")


def test_the_exposition_shows_the_metrics_of_the_audit_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/control.db"
    _record(url, "churn", NOW)
    metrics = ServingMetrics.create()

    metrics.monitoring.delivery.publish(read_delivery_metrics(url, model="churn", now=NOW))

    assert _values(generate_latest(metrics.registry).decode()) == {
        "headway_delivery_deployments_per_day": {"churn": pytest.approx(2 / 30)},
        "headway_delivery_lead_time_seconds": {"churn": DAY},  # v3, the latest
        "headway_delivery_change_failure_ratio": {"churn": pytest.approx(1 / 3)},
        "headway_delivery_mean_time_to_recovery_seconds": {"churn": 300.0},
        "headway_delivery_model_age_seconds": {"churn": DAY},
    }


def test_a_metric_no_longer_known_is_nan_and_one_never_known_is_absent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/control.db"
    _record(url, "churn", NOW)
    metrics = ServingMetrics.create()
    gauges = metrics.monitoring.delivery

    gauges.publish(read_delivery_metrics(url, model="churn", now=NOW))
    # Forty days on: nothing in the window any more; the model's age is still known.
    gauges.publish(read_delivery_metrics(url, model="churn", now=NOW + timedelta(days=40)))
    # A model with no history at all.
    gauges.publish(read_delivery_metrics(url, model="fraud", now=NOW))

    shown = _values(generate_latest(metrics.registry).decode())
    assert shown["headway_delivery_deployments_per_day"] == {"churn": 0.0, "fraud": 0.0}
    assert math.isnan(shown["headway_delivery_lead_time_seconds"]["churn"])
    assert math.isnan(shown["headway_delivery_change_failure_ratio"]["churn"])
    assert math.isnan(shown["headway_delivery_mean_time_to_recovery_seconds"]["churn"])
    assert shown["headway_delivery_model_age_seconds"] == {"churn": 41 * DAY}
    for name in GAUGES[1:]:
        assert "fraud" not in shown[name]


def test_the_server_reads_the_audit_log_and_publishes_the_gauges(
    trained: tuple[Project, PipelineResult], tmp_path: Path
) -> None:
    project, result = trained
    url = f"sqlite:///{tmp_path}/control.db"
    name = result.version.name
    _record(url, name, datetime.now(UTC))

    with serving(project.root, env={"HEADWAY_CONTROL_DB_URL": url}) as base:
        deadline = time.monotonic() + 30
        shown: dict[str, dict[str, float]] = {}
        while time.monotonic() < deadline and len(shown) < len(GAUGES):
            shown = _values(httpx.get(f"{base}/metrics").text)
            time.sleep(0.2)

    assert shown["headway_delivery_deployments_per_day"] == {name: pytest.approx(2 / 30)}
    assert shown["headway_delivery_lead_time_seconds"] == {name: DAY}
    assert shown["headway_delivery_change_failure_ratio"] == {name: pytest.approx(1 / 3)}
    assert shown["headway_delivery_mean_time_to_recovery_seconds"] == {name: 300.0}
    assert shown["headway_delivery_model_age_seconds"][name] == pytest.approx(DAY, abs=120)
