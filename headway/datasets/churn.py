"""Seeded generator of a realistic customer-churn table (binary classification).

The table mixes numeric and categorical columns, has missing values, an observation
timestamp, an id, and an imbalanced target (about 15-20% churners). The same seed gives
the same table. ``drift`` produces batches for monitoring and retraining scenarios:

- ``"covariate"``: the population moves (higher prices, more month-to-month contracts,
  more support tickets) while the rule that links features to churn stays the same;
- ``"concept"``: the population stays, the rule changes (price sensitivity grows, support
  tickets stop mattering, long contracts protect less).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["CHURN_TARGET", "make_churn"]

CHURN_TARGET = "churned"

Drift = Literal["covariate", "concept"]

_REGIONS = ["north", "south", "east", "west", "central", "islands"]
_REGION_P = [0.24, 0.22, 0.18, 0.18, 0.13, 0.05]
_PLANS = ["basic", "standard", "premium"]
_PLAN_PRICE = {"basic": 24.0, "standard": 49.0, "premium": 89.0}
_CONTRACTS = ["month-to-month", "one-year", "two-year"]
_PAYMENTS = ["card", "bank_transfer", "invoice", "paypal"]


def make_churn(
    n_rows: int = 50_000,
    *,
    seed: int = 0,
    drift: Drift | None = None,
    drift_strength: float = 1.0,
    start: str = "2024-01-01",
    days: int = 730,
) -> pd.DataFrame:
    """Generate a churn table.

    Args:
        n_rows: number of customers (rows); a few hundred thousand is fine.
        seed: random seed; the same arguments give the same table.
        drift: ``None`` for the reference population, ``"covariate"`` or ``"concept"``.
        drift_strength: scale of the drift, 0 (none) to about 2 (severe).
        start: first observation date (UTC).
        days: observation window length in days.

    Returns:
        A DataFrame with ``customer_id``, ``observed_at`` (UTC timestamps), 12 features
        and the 0/1 target ``churned``.

    Raises:
        ValueError: ``n_rows`` < 1, or an unknown ``drift``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if drift not in (None, "covariate", "concept"):
        raise ValueError(f"drift must be None, 'covariate' or 'concept', got {drift!r}")
    rng = np.random.default_rng(seed)
    cov = drift_strength if drift == "covariate" else 0.0
    con = drift_strength if drift == "concept" else 0.0

    start_ts = pd.Timestamp(start, tz="UTC")
    seconds = np.sort(rng.integers(0, days * 86_400, n_rows))
    observed_at = start_ts + pd.to_timedelta(seconds, unit="s")

    region = rng.choice(_REGIONS, size=n_rows, p=_REGION_P)
    plan = rng.choice(_PLANS, size=n_rows, p=[0.45, 0.38, 0.17])
    contract_p = np.array([0.55, 0.25, 0.20])
    contract_p = contract_p + cov * np.array([0.15, -0.07, -0.08])
    contract = rng.choice(_CONTRACTS, size=n_rows, p=contract_p / contract_p.sum())
    payment = rng.choice(_PAYMENTS, size=n_rows, p=[0.4, 0.25, 0.15, 0.2])

    tenure = np.clip(rng.gamma(1.6, 14.0, n_rows) - cov * 4, 0, 72).round().astype(np.int64)
    base_price = np.vectorize(_PLAN_PRICE.__getitem__)(plan)
    monthly = base_price * (1 + 0.12 * cov) + rng.normal(0, 6, n_rows)
    monthly = np.round(np.clip(monthly, 10, None), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.normal(1.0, 0.05, n_rows), 2)
    tickets = rng.poisson(0.8 + 0.6 * cov + 0.5 * (plan == "basic"), n_rows)
    last_login = np.round(rng.exponential(9 + 4 * cov, n_rows), 1)
    products = rng.integers(1, 6, n_rows)
    age = np.clip(rng.normal(44, 14, n_rows), 18, 90).round()
    discount = rng.random(n_rows) < 0.22

    # Churn logit: the "concept". Concept drift reweights it.
    logit = (
        -1.75
        + 0.45 * con
        + (0.9 - 0.5 * con) * (contract == "month-to-month")
        - (1.1 - 0.7 * con) * (contract == "two-year")
        - 0.45 * (contract == "one-year")
        - 0.035 * tenure
        + (0.018 + 0.02 * con) * (monthly - 50)
        + (0.38 - 0.38 * min(con, 1.0)) * tickets
        + 0.045 * np.minimum(last_login, 40)
        - 0.22 * (products - 1)
        + 0.35 * (payment == "invoice")
        - 0.4 * discount
        + 0.25 * (region == "islands")
        - 0.006 * (age - 44)
    )
    churned = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed:03d}{i:07d}" for i in range(n_rows)],
            "observed_at": observed_at,
            "region": region,
            "plan": plan,
            "contract": contract,
            "payment_method": payment,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_tickets_90d": tickets,
            "days_since_last_login": last_login,
            "num_products": products,
            "age": age,
            "has_discount": np.where(discount, "yes", "no"),
            CHURN_TARGET: churned,
        }
    )
    # Missing values, as real exports have them.
    for column, rate in {
        "total_charges": 0.03,
        "days_since_last_login": 0.05,
        "age": 0.08,
        "payment_method": 0.02,
    }.items():
        frame[column] = frame[column].where(rng.random(n_rows) >= rate)
    return frame
