"""The monitor's latest verdicts as Prometheus gauges on the server's ``/metrics``.

``headway monitor`` stores each tested window in the control plane
(:class:`headway.controlplane.MonitoringStore`); the server reads the latest window of its
model while it follows the registry and publishes it, so that Prometheus (and the rules in
``deploy/prometheus``) alert on drift and performance without another exporter. Every
worker reads the same row and sets the same values (``livemax`` across workers).

**Delivery gauges.** The server also reads its model's audit log and publishes the delivery
metrics of the last 30 days (:mod:`headway.controlplane.delivery`): deployments per day,
the latest deployment's lead time from the end of training, the change failure ratio, the
mean time to recovery and the model's age, each labelled by model (``headway_delivery_*``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from headway.controlplane.delivery import DeliveryMetrics

__all__ = ["DELIVERY_WINDOW_DAYS", "DeliveryGauges", "MonitoringGauges"]

# The window of the delivery gauges, in days.
DELIVERY_WINDOW_DAYS = 30.0


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
class DeliveryGauges:
    """The delivery metrics of the served model, and the label sets given a value.

    A metric that is not known (``None``: never deployed, no incident recovered) leaves
    its gauge unset; one that was known and no longer is shows NaN, as the monitoring
    gauges do for a stale label set (a worker cannot remove a series the other workers
    wrote).
    """

    deployments_per_day: Gauge
    lead_time: Gauge
    change_failure_ratio: Gauge
    mean_time_to_recovery: Gauge
    model_age: Gauge
    _set: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def create(cls, registry: CollectorRegistry) -> DeliveryGauges:
        return cls(
            deployments_per_day=_gauge(
                "headway_delivery_deployments_per_day",
                "Promotions of the model per day over the last 30 days.",
                ["model"],
                registry,
            ),
            lead_time=_gauge(
                "headway_delivery_lead_time_seconds",
                "Seconds from the end of training to the promotion of the latest deployment.",
                ["model"],
                registry,
            ),
            change_failure_ratio=_gauge(
                "headway_delivery_change_failure_ratio",
                "Changes rolled back over changes made (promotions and rollouts rolled back) "
                "over the last 30 days.",
                ["model"],
                registry,
            ),
            mean_time_to_recovery=_gauge(
                "headway_delivery_mean_time_to_recovery_seconds",
                "Mean seconds from a drift or performance trigger to the champion's "
                "replacement or rollback, over the last 30 days.",
                ["model"],
                registry,
            ),
            model_age=_gauge(
                "headway_delivery_model_age_seconds",
                "Seconds since the model was last promoted.",
                ["model"],
                registry,
            ),
        )

    def publish(self, metrics: DeliveryMetrics) -> None:
        """Show ``metrics`` under its model's label."""
        values = {
            "deployments_per_day": metrics.deployment_frequency_per_day,
            "lead_time": metrics.last_lead_time_from_training_end_seconds,
            "change_failure_ratio": metrics.change_failure_rate,
            "mean_time_to_recovery": metrics.mean_time_to_recovery_seconds,
            "model_age": metrics.model_age_seconds,
        }
        for name, value in values.items():
            gauge: Gauge = getattr(self, name)
            key = (name, metrics.model)
            if value is not None:
                gauge.labels(metrics.model).set(_number(value))
                self._set.add(key)
            elif key in self._set:
                gauge.labels(metrics.model).set(math.nan)
                self._set.discard(key)


@dataclass
class MonitoringGauges:
    """The gauges, and the label sets set last (cleared when a newer window replaces them);
    the delivery gauges come with them (:attr:`delivery`)."""

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
    delivery: DeliveryGauges
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
            delivery=DeliveryGauges.create(registry),
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
