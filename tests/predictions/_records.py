"""Records for the prediction-log tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from headway.predictions import PredictionRecord

T0 = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)


def make_records(
    n: int,
    *,
    prefix: str = "p",
    start: datetime = T0,
    step: timedelta = timedelta(minutes=30),
    model_name: str = "churn",
) -> list[PredictionRecord]:
    """``n`` predictions ``step`` apart from ``start`` (they cross midnight UTC), with
    varied inputs and outputs."""
    return [
        PredictionRecord(
            prediction_id=f"{prefix}-{i}",
            timestamp=start + i * step,
            model_name=model_name,
            model_version=str(1 + i % 2),
            route=("champion", "canary", "shadow")[i % 3],
            inputs={"age": 20 + i, "plan": f"plan-{i % 3}", "score": i / 7, "note": None},
            outputs={"prediction": i % 2, "probability": round(0.1 + i / 100, 6)},
            latency_ms=0.25 + i,
        )
        for i in range(n)
    ]
