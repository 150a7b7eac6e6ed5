"""Alerts: the Alertmanager-style payload of a window's alarms, delivered to a real HTTP
receiver on 127.0.0.1; a receiver that fails is reported with its token masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from headway.monitoring.alerts import alert_payload, send_webhook
from headway.monitoring.drift import ColumnDrift
from headway.monitoring.monitor import WindowReport
from tests.monitoring.conftest import Receiver

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _window(alarms: list[str]) -> WindowReport:
    column = ColumnDrift(
        column="age", kind="numeric", method="ks", statistic=0.2, threshold=0.001,
        p_value=1e-9, drifted=True, direction="up", rows=500, null_rate=0.0,
        reference_null_rate=0.0,
    )  # fmt: skip
    return WindowReport(
        model_name="churn",
        model_version="3",
        start=T0,
        end=T0 + timedelta(hours=1),
        rows=500,
        status="ok",
        columns=[column],
        dataset_drift={"drifted": True, "share": 0.6, "threshold": 0.5, "columns": 3, "of": 5},
        performance={
            "metric": "roc_auc",
            "evaluated": 0.8,
            "realised": {
                "metric": "roc_auc",
                "value": 0.7,
                "interval": [0.68, 0.72],
                "rows": 400,
                "margin": 0.02,
                "dropped": True,
            },
        },
        alarms=alarms,
    )


def test_payload_has_one_alert_per_alarm_with_its_evidence() -> None:
    payload = alert_payload([_window(["drift:age", "dataset_drift", "performance"])])
    assert payload["version"] == "4" and payload["status"] == "firing"
    alerts = {a["labels"]["alertname"]: a for a in payload["alerts"]}
    assert set(alerts) == {"HeadwayDrift", "HeadwayDatasetDrift", "HeadwayPerformanceDrop"}
    drift = alerts["HeadwayDrift"]
    assert drift["labels"] == {
        "alertname": "HeadwayDrift", "model": "churn", "version": "3",
        "severity": "warning", "column": "age",
    }  # fmt: skip
    assert drift["annotations"]["description"] == "age drifted (ks: p-value 1e-09 < 0.001, up)"
    assert alerts["HeadwayPerformanceDrop"]["labels"]["severity"] == "critical"
    assert (
        "0.68 to 0.72, 400 rows" in alerts["HeadwayPerformanceDrop"]["annotations"]["description"]
    )
    assert "3 of 5 columns drifted" in alerts["HeadwayDatasetDrift"]["annotations"]["description"]
    assert drift["startsAt"] == (T0 + timedelta(hours=1)).isoformat()


def test_no_alarm_no_alert() -> None:
    payload = alert_payload([_window([])])
    assert (payload["status"], payload["alerts"]) == ("resolved", [])


def test_webhook_delivers_the_payload(receiver: Receiver) -> None:
    url, received, authorizations = receiver
    payload = alert_payload([_window(["drift:age"])])
    send_webhook(f"{url}/hook", payload)
    send_webhook(url.replace("http://", "http://bot:pa%40ss@") + "/hook", payload)
    assert received == [payload, payload]
    # "bot:pa@ss" in base64: the userinfo became basic authentication
    assert authorizations == [None, "Basic Ym90OnBhQHNz"]


def test_a_failing_receiver_is_reported_with_its_token_masked(
    receiver: Receiver,
) -> None:
    url, _, _ = receiver
    host = url.removeprefix("http://")
    with pytest.raises(OSError, match="answered 500") as info:
        send_webhook(
            f"http://bot:s3cr3t@{host}/fail?token=abc123", alert_payload([_window(["drift:age"])])
        )
    assert "s3cr3t" not in str(info.value) and "abc123" not in str(info.value)
    with pytest.raises(OSError, match="unreachable") as info:
        send_webhook("http://bot:s3cr3t@127.0.0.1:9/hook", {"alerts": []}, timeout=2)
    assert "s3cr3t" not in str(info.value)
