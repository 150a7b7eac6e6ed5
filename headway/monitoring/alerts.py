"""Alerts from ``headway monitor``: an Alertmanager-style webhook payload, and its delivery.

The payload follows Alertmanager's webhook format (version 4), so any receiver written for
Alertmanager (chat bridges, incident tools) takes it: one alert per alarm of a window, with
labels ``alertname`` (``HeadwayDrift``, ``HeadwayDatasetDrift``, ``HeadwayPredictionDrift``,
``HeadwayMultivariateDrift``, ``HeadwayPerformanceDrop``, ``HeadwayEstimatedPerformanceDrop``,
``HeadwaySchemaDrift``), ``model``, ``version``, ``severity`` and, for a column, ``column``;
the annotations say what was measured against what.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from headway.monitoring.monitor import WindowReport
from headway.redact import redact_text, redact_uri

__all__ = ["alert_payload", "send_webhook"]

_NAMES = {
    "dataset_drift": ("HeadwayDatasetDrift", "warning"),
    "prediction_drift": ("HeadwayPredictionDrift", "warning"),
    "multivariate": ("HeadwayMultivariateDrift", "warning"),
    "performance": ("HeadwayPerformanceDrop", "critical"),
    "estimated_performance": ("HeadwayEstimatedPerformanceDrop", "warning"),
}


def _describe(report: WindowReport, alarm: str) -> str:
    if alarm.startswith("drift:"):
        column = alarm.split(":", 1)[1]
        found = next((c for c in report.columns if c.column == column), None)
        if found is not None:
            rule = (
                f"p-value {found.p_value:.2g} < {found.threshold:.2g}"
                if found.p_value is not None
                else f"{found.statistic:.3f} > {found.threshold:.3f}"
            )
            return f"{column} drifted ({found.method}: {rule}, {found.direction or 'no direction'})"
    if alarm.startswith("schema:"):
        return f"column {alarm.split(':', 1)[1]} is missing from the requests"
    if alarm == "dataset_drift":
        share = report.dataset_drift
        return (
            f"{share.get('columns')} of {share.get('of')} columns drifted "
            f"(share {share.get('share', 0):.2f} >= {share.get('threshold')})"
        )
    if alarm in ("performance", "estimated_performance"):
        key = "realised" if alarm == "performance" else "estimated"
        perf = report.performance.get(key) or {}
        interval = perf.get("interval") or [None, None]
        return (
            f"{key} {perf.get('metric')} {perf.get('value')} (95% interval {interval[0]} to "
            f"{interval[1]}, {perf.get('rows')} rows) against "
            f"{report.performance.get('evaluated')} at evaluation, margin {perf.get('margin', '')}"
        )
    if alarm == "prediction_drift" and report.prediction_drift is not None:
        d = report.prediction_drift
        return (
            f"the model's output drifted ({d.method} {d.statistic:.3f}, "
            f"threshold {d.threshold:.3f})"
        )
    if alarm == "multivariate" and report.multivariate:
        m = report.multivariate
        return f"reconstruction error {m['statistic']:.3f} > {m['threshold']:.3f}"
    return alarm


def alert_payload(reports: Sequence[WindowReport], *, receiver: str = "headway") -> dict[str, Any]:
    """The webhook payload of the alarms of ``reports`` (no alerts when none alarmed)."""
    alerts = []
    for report in reports:
        for alarm in report.alarms:
            if alarm.startswith("drift:"):
                name, severity = "HeadwayDrift", "warning"
            elif alarm.startswith("schema:"):
                name, severity = "HeadwaySchemaDrift", "critical"
            else:
                name, severity = _NAMES.get(alarm, ("HeadwayMonitor", "warning"))
            labels = {
                "alertname": name,
                "model": report.model_name,
                "version": report.model_version,
                "severity": severity,
            }
            if ":" in alarm:
                labels["column"] = alarm.split(":", 1)[1]
            fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[
                :16
            ]
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {
                        "summary": f"{report.model_name}/{report.model_version}: {alarm}",
                        "description": _describe(report, alarm),
                        "window": f"{report.start.isoformat()} to {report.end.isoformat()}",
                    },
                    "startsAt": report.end.isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": fingerprint,
                }
            )
    model = reports[0].model_name if reports else ""
    return {
        "version": "4",
        "groupKey": f'{{}}:{{model="{model}"}}',
        "truncatedAlerts": 0,
        "status": "firing" if alerts else "resolved",
        "receiver": receiver,
        "groupLabels": {"model": model},
        "commonLabels": {"model": model},
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": alerts,
    }


def send_webhook(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST ``payload`` as JSON to ``url`` (``user:password@`` in it: basic authentication).

    Raises:
        OSError: the receiver could not be reached or answered with an error status (the
            message masks any credential in the URL).
    """
    headers = {"Content-Type": "application/json"}
    parts = urllib.parse.urlsplit(url)
    target = url
    if parts.username is not None:
        # user:password@ in the URL becomes basic authentication (urllib sends no userinfo).
        credentials = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        target = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    request = urllib.request.Request(
        target, data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"webhook {redact_uri(url)} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OSError(f"webhook {redact_uri(url)} unreachable: {redact_text(str(exc))}") from None
