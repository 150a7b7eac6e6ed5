"""Prometheus metrics of one server instance (its own registry: no global state)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServingMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class ServingMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rows: Counter
    model_info: Gauge
    schema_violations: Counter

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
            ),
            schema_violations=Counter(
                "headway_schema_violations",
                "Requests that broke a warn-level rule of the training schema.",
                ["column", "check"],
                registry=registry,
            ),
        )
