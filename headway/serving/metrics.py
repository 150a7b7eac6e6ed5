"""Prometheus metrics of one server instance (its own registry: no global state).

With several worker processes (``headway serve --workers N``) ``PROMETHEUS_MULTIPROC_DIR``
is set before the workers start: each worker writes its values to files there, and
``/metrics`` of any worker reports the sum over all of them (:func:`exposition`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from headway.serving.gauges import MonitoringGauges

__all__ = ["ServingMetrics", "exposition", "observe_many"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition of this server's metrics: of this process alone, or of every
    worker process when the server runs several."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return generate_latest(combined)
    return generate_latest(registry)


def observe_many(child: Any, values: Sequence[Any]) -> None:
    """Observe every finite number of ``values`` in the histogram ``child`` (one labelled
    child of a :class:`~prometheus_client.Histogram`) in one pass.

    ``Histogram.observe`` walks the buckets for every value; a batch of a hundred rows would
    spend more time there than in the model. Here the buckets are found with one
    ``searchsorted`` and each touched bucket is incremented once, by its count: the
    exposition is the same as observing the values one by one. Values that are not finite
    numbers (a class label, NaN) are not observed.
    """
    numbers = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not numbers:
        return
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(numbers) < 4:
        for value in numbers:  # a few values, or a client library laid out differently
            child.observe(value)
        return
    array = np.asarray(numbers, dtype=float)
    # The first bucket whose upper bound is >= the value (the last bound is +Inf).
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts):
        buckets[index].inc(int(counts[index]))
    total.inc(float(array.sum()))


# Predicted values: a probability (binary: of the positive class; multiclass: of the
# predicted class) or a regression output, on a signed logarithmic scale.
_VALUE_BUCKETS = (
    *(-(10.0**e) for e in range(6, -3, -1)),
    *(round(0.05 * i, 2) for i in range(21)),
    *(10.0**e for e in range(1, 7)),
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class ServingMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rows: Counter
    model_info: Gauge
    schema_violations: Counter
    batch_rows: Histogram
    predicted: Histogram
    load_seconds: Gauge
    load_failures: Counter
    routed: Counter
    traffic_weight: Gauge
    shadow_errors: Counter
    fallbacks: Counter
    compactions: Counter
    monitoring: MonitoringGauges

    @classmethod
    def create(cls) -> ServingMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "headway_requests",
                "HTTP requests by endpoint and status code.",
                ["endpoint", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "headway_request_latency_seconds",
                "Time to answer a request, by endpoint.",
                ["endpoint"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            rows=Counter(
                "headway_predictions",
                "Rows scored, by model version.",
                ["model", "version"],
                registry=registry,
            ),
            model_info=Gauge(
                "headway_model_info",
                "1 for the model version being served.",
                ["model", "version", "uri"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
            schema_violations=Counter(
                "headway_schema_violations",
                "Requests that broke a warn-level rule of the training schema.",
                ["column", "check"],
                registry=registry,
            ),
            predicted=Histogram(
                "headway_predicted_value",
                "Predicted values: the positive class's probability (binary), the predicted "
                "class's probability (multiclass) or the output (regression).",
                ["model", "version"],
                buckets=_VALUE_BUCKETS,
                registry=registry,
            ),
            load_seconds=Gauge(
                "headway_model_load_seconds",
                "Seconds it took to load the model version being served.",
                ["model", "version"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
            load_failures=Counter(
                "headway_model_load_failures",
                "Versions the server was asked to switch to and could not load.",
                ["model", "version"],
                registry=registry,
            ),
            routed=Counter(
                "headway_routed_requests",
                "Requests answered (or shadowed) by each version, by route.",
                ["model", "version", "route"],
                registry=registry,
            ),
            traffic_weight=Gauge(
                "headway_traffic_weight",
                "Share of live traffic sent to the candidate (canary and A/B modes).",
                ["model"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
            shadow_errors=Counter(
                "headway_shadow_errors",
                "Requests the shadow candidate failed to score (the champion answered).",
                ["version"],
                registry=registry,
            ),
            fallbacks=Counter(
                "headway_fallbacks",
                "Requests answered by the fallback version because the model failed "
                "(reason raised) or was too slow (reason took).",
                ["version", "reason"],
                registry=registry,
            ),
            compactions=Counter(
                "headway_log_compactions",
                "Compactions of the prediction log while serving, by outcome (ok, failed).",
                ["outcome"],
                registry=registry,
            ),
            batch_rows=Histogram(
                "headway_batch_rows",
                "Rows scored in one call of the model (micro-batches of concurrent requests).",
                buckets=_BATCH_BUCKETS,
                registry=registry,
            ),
            monitoring=MonitoringGauges.create(registry),
        )
