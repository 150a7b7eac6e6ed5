"""The churn example split the way a feature store sees it: an entity table and two
feature views.

- the **entity table** (``data/churn_events.csv``): ``customer_id``, ``event_timestamp``
  (when the customer's outcome was observed) and the label ``churned``;
- ``data/customer_profile.parquet``: the customer's plan, contract, payment, region,
  tenure and charges, stamped ``updated_at`` (two days before the event), no TTL, with a
  later update for one customer in ten (a price change, 20 days after the event) that must
  never reach the training row of the earlier event;
- ``data/customer_usage.parquet``: support tickets, days since the last login and products
  held, stamped ``day`` (an hour before the event), TTL 30 days;
- ``features.yaml``: the entity ``customer``, both views, and the service ``churn_model``.

The rows are those of :func:`make_churn` with the same seed, over the year that ends the
day before the example is written, so that the latest values are fresh when it is served
(usage older than its 30-day TTL comes back missing at serving time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

from headway.datasets.churn import CHURN_TARGET, make_churn

__all__ = ["PROFILE_FEATURES", "USAGE_FEATURES", "make_churn_events", "write_feature_sources"]

PROFILE_FEATURES = {
    "region": "string",
    "plan": "string",
    "contract": "string",
    "payment_method": "string",
    "tenure_months": "int",
    "monthly_charges": "float",
    "total_charges": "float",
    "age": "float",
    "has_discount": "string",
}
USAGE_FEATURES = {
    "support_tickets_90d": "int",
    "days_since_last_login": "float",
    "num_products": "int",
}


def _table(n_rows: int, seed: int) -> pd.DataFrame:
    start = (datetime.now(UTC) - timedelta(days=366)).date().isoformat()
    return make_churn(n_rows, seed=seed, start=start, days=365)


def make_churn_events(n_rows: int = 50_000, *, seed: int = 0) -> pd.DataFrame:
    """The entity table: one row per customer and observation, with its label."""
    table = _table(n_rows, seed)
    return pd.DataFrame(
        {
            "customer_id": table["customer_id"],
            "event_timestamp": table["observed_at"],
            CHURN_TARGET: table[CHURN_TARGET],
        }
    )


def write_feature_sources(root: Path, n_rows: int, *, seed: int = 0) -> None:
    """Write both views' Parquet files and ``features.yaml`` under ``root``."""
    table = _table(n_rows, seed)
    when = table["observed_at"]
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    profile = table[["customer_id", *PROFILE_FEATURES]].assign(
        updated_at=when - pd.Timedelta(days=2)
    )
    later = profile.iloc[::10].assign(
        updated_at=when.iloc[::10] + pd.Timedelta(days=20),
        monthly_charges=(profile["monthly_charges"].iloc[::10] * 1.15).round(2),
    )
    pd.concat([profile, later], ignore_index=True).to_parquet(data / "customer_profile.parquet")
    usage = table[["customer_id", *USAGE_FEATURES]].assign(day=when - pd.Timedelta(hours=1))
    usage.to_parquet(data / "customer_usage.parquet")
    definitions = {
        "entities": [
            {"name": "customer", "join_keys": ["customer_id"], "description": "a subscriber"}
        ],
        "feature_views": [
            {
                "name": "customer_profile",
                "entities": ["customer"],
                "source": {"type": "parquet", "path": "data/customer_profile.parquet"},
                "timestamp_column": "updated_at",
                "owner": "crm",
                "description": "plan, contract and charges, as the CRM records them",
                "features": [{"name": k, "type": v} for k, v in PROFILE_FEATURES.items()],
            },
            {
                "name": "customer_usage",
                "entities": ["customer"],
                "source": {"type": "parquet", "path": "data/customer_usage.parquet"},
                "timestamp_column": "day",
                "ttl": "30d",
                "owner": "product-analytics",
                "description": "daily usage aggregates",
                "features": [{"name": k, "type": v} for k, v in USAGE_FEATURES.items()],
            },
        ],
        "services": [
            {
                "name": "churn_model",
                "features": ["customer_profile", "customer_usage"],
                "description": "what the churn model reads",
            }
        ],
    }
    (root / "features.yaml").write_text(
        "# Feature definitions: see docs/configuration.md#featuresyaml\n"
        + yaml.safe_dump(definitions, sort_keys=False),
        encoding="utf-8",
    )
