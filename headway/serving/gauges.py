"""The monitor's latest verdicts as Prometheus gauges on the server's ``/metrics``.

``headway monitor`` stores each tested window in the control plane
(:class:`headway.controlplane.MonitoringStore`); the server reads the latest window of its
model while it follows the registry and publishes it, so that Prometheus (and the rules in
``deploy/prometheus``) alert on drift and performance without another exporter. Every
worker reads the same row and sets the same values (``livemax`` across workers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["MonitoringGauges"]


def _gauge(name: str, doc: str, labels: list[str], registry: CollectorRegistry) -> Gauge:
    return Gauge(name, doc, labels, registry=registry, multiprocess_mode="livemax")


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class MonitoringGauges:
    """The gauges, and the label sets set last (cleared when a newer window replaces them)."""

    registry: CollectorRegistry
    drift_detected: Gauge
    drift_score: Gauge
    dataset_drift: Gauge
    prediction_drift: Gauge
    performance: Gauge
    performance_low: Gauge
    performance_high: Gauge
    performance_evaluated: Gauge
    performance_dropped: Gauge
    window_end: Gauge
    window_rows: Gauge
    shown: int | None = None
    _set: list[tuple[Gauge, tuple[str, ...]]] = field(default_factory=list)

    @classmethod
    def create(cls, registry: CollectorRegistry) -> MonitoringGauges:
        return cls(
            registry=registry,
            drift_detected=_gauge(
                "headway_drift_detected",
                "1 when the column drifted in the latest monitored window.",
                ["model", "version", "column"],
                registry,
            ),
            drift_score=_gauge(
                "headway_drift_score",
                "The drift statistic of the column in the latest monitored window.",
                ["model", "version", "column", "method"],
                registry,
            ),
            dataset_drift=_gauge(
                "headway_dataset_drift",
                "1 when the share of drifted columns reached monitoring.drift_share.",
                ["model", "version"],
                registry,
            ),
            prediction_drift=_gauge(
                "headway_prediction_drift",
                "1 when the model's output drifted in the latest monitored window.",
                ["model", "version"],
                registry,
            ),
            performance=_gauge(
                "headway_performance",
                "The primary metric in the latest monitored window (kind realised or estimated).",
                ["model", "version", "metric", "kind"],
                registry,
            ),
            performance_low=_gauge(
                "headway_performance_low",
                "Lower end of the metric's 95% interval in the latest monitored window.",
                ["model", "version", "metric", "kind"],
                registry,
            ),
            performance_high=_gauge(
                "headway_performance_high",
                "Upper end of the metric's 95% interval in the latest monitored window.",
                ["model", "version", "metric", "kind"],
                registry,
            ),
            performance_evaluated=_gauge(
                "headway_performance_evaluated",
                "The primary metric of the version at evaluation (its test split).",
                ["model", "version", "metric"],
                registry,
            ),
            performance_dropped=_gauge(
                "headway_performance_dropped",
                "1 when the metric's interval lies beyond the margin below the evaluated metric.",
                ["model", "version", "kind"],
                registry,
            ),
            window_end=_gauge(
                "headway_monitor_last_window_end_timestamp_seconds",
                "End of the latest monitored window (Unix time).",
                ["model"],
                registry,
            ),
            window_rows=_gauge(
                "headway_monitor_window_rows",
                "Predictions in the latest monitored window.",
                ["model", "version"],
                registry,
            ),
        )

    def _put(self, gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
        gauge.labels(*labels).set(value)
        self._set.append((gauge, labels))

    def publish(self, window_id: int, end_timestamp: float, report: dict[str, Any]) -> None:
        """Show the stored window ``window_id`` (its ``report`` as stored)."""
        if window_id == self.shown:
            return
        for gauge, labels in self._set:
            # A label set of an older window (another version, a column gone): not a value.
            gauge.labels(*labels).set(math.nan)
        self._set = []
        model = str(report["model"]["name"])
        version = str(report["model"]["version"])
        self._put(self.window_end, (model,), end_timestamp)
        self._put(self.window_rows, (model, version), _number(report["window"].get("rows")))
        for column in report.get("columns", []):
            name = str(column["column"])
            self._put(self.drift_detected, (model, version, name), float(bool(column["drifted"])))
            self._put(
                self.drift_score,
                (model, version, name, str(column["method"])),
                _number(column.get("statistic")),
            )
        dataset = report.get("dataset_drift") or {}
        if dataset:
            self._put(self.dataset_drift, (model, version), float(bool(dataset.get("drifted"))))
        prediction = report.get("prediction_drift")
        if prediction:
            self._put(self.prediction_drift, (model, version), float(bool(prediction["drifted"])))
        perf = report.get("performance") or {}
        metric = str(perf.get("metric") or "")
        if metric:
            self._put(
                self.performance_evaluated, (model, version, metric), _number(perf.get("evaluated"))
            )
        for kind in ("realised", "estimated"):
            found = perf.get(kind) or {}
            if not found or found.get("value") is None:
                continue
            labels = (model, version, metric, kind)
            interval = found.get("interval") or [None, None]
            self._put(self.performance, labels, _number(found.get("value")))
            self._put(self.performance_low, labels, _number(interval[0]))
            self._put(self.performance_high, labels, _number(interval[1]))
            self._put(
                self.performance_dropped, (model, version, kind), float(bool(found.get("dropped")))
            )
        self.shown = window_id
