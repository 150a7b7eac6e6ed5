"""Seeded generator of a realistic consumer-credit table (binary classification).

One row per loan application: an id, the application time, the applicant (age, sex, age
group, income with about 2% missing, employment, housing, credit history with about 3%
missing, open accounts, late payments), the loan (amount, term, interest rate, purpose,
the resulting debt-to-income ratio) and the target ``defaulted``: did the applicant default
within 12 months (about 8-12% did). The same arguments give the same table.

Default risk is a logistic function of debt-to-income, late payments, income, employment,
credit history, loan size relative to income, interest rate and term, with interactions,
plus an unobserved "financial discipline" factor that also drives late payments, so the
table is learnable (ROC AUC about 0.8) but not separable. ``sex`` and ``age_group`` are the
sensitive attributes of the fairness example: ``sex`` has no direct effect on risk, but
women earn somewhat less on average in the generated population, so a model that uses
income predicts defaults for women more often (a measurable demographic-parity difference)
while the default rate at a given income is the same for both sexes; ``age_group`` acts
mildly through employment and credit history. ``drift`` produces batches for monitoring and
retraining scenarios:

- ``"covariate"``: the applicants change (higher existing debt so a higher debt-to-income,
  more unemployed, larger loans) while the rule that links features to default stays;
- ``"concept"``: the features stay (the same seed gives the same features as the
  reference), the rule changes (late payments matter less, debt-to-income matters more,
  a recession-like uplift of default for the self-employed).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["CREDIT_TARGET", "make_credit"]

CREDIT_TARGET = "defaulted"

Drift = Literal["covariate", "concept"]

_SEXES = np.array(["female", "male"])
_AGE_GROUPS = np.array(["18-25", "26-40", "41-60", "60+"])
_EMPLOYMENT = np.array(["employed", "self-employed", "unemployed", "retired", "student"])
# Employment probabilities per age group (rows) in the order of _EMPLOYMENT.
_EMPLOYMENT_P = np.array(
    [
        [0.55, 0.05, 0.12, 0.00, 0.28],  # 18-25
        [0.76, 0.12, 0.08, 0.00, 0.04],  # 26-40
        [0.74, 0.15, 0.07, 0.04, 0.00],  # 41-60
        [0.30, 0.12, 0.05, 0.53, 0.00],  # 60+
    ]
)
# Log-income shift per employment status.
_EMPLOYMENT_INCOME = np.array([0.0, 0.05, -0.9, -0.35, -1.1])
_HOUSING = np.array(["rent", "own", "mortgage", "family"])
_PURPOSES = np.array(["car", "home", "education", "business", "debt_consolidation", "other"])
_PURPOSE_AMOUNT = np.array([15_000.0, 40_000.0, 12_000.0, 30_000.0, 12_000.0, 6_000.0])
_TERMS = np.array([12, 24, 36, 48, 60])
_MEDIAN_INCOME = 45_000.0


def make_credit(
    n_rows: int = 50_000,
    *,
    seed: int = 0,
    drift: Drift | None = None,
    drift_strength: float = 1.0,
    start: str = "2023-01-01",
    days: int = 730,
) -> pd.DataFrame:
    """Generate a consumer-credit table.

    Args:
        n_rows: number of loan applications (rows); a few hundred thousand is fine.
        seed: random seed; the same arguments give the same table.
        drift: ``None`` for the reference population, ``"covariate"`` or ``"concept"``.
        drift_strength: scale of the drift, 0 (none) to about 2 (severe).
        start: first application date (UTC).
        days: application window length in days.

    Returns:
        A DataFrame with ``application_id`` (``A0000001``, ...), ``applied_at`` (UTC
        timestamps, increasing), 14 features (among them the sensitive ``sex`` and
        ``age_group``) and the 0/1 target ``defaulted``.

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
    n = n_rows

    start_ts = pd.Timestamp(start, tz="UTC").as_unit("ns")
    seconds = np.sort(rng.integers(0, days * 86_400, n))
    applied_at = start_ts + pd.to_timedelta(seconds, unit="s").as_unit("ns")

    # Who applies. Sex acts on income only; age acts through employment and history.
    female = rng.random(n) < 0.5
    age = np.minimum(18 + rng.gamma(2.2, 11.0, n), 80).astype(np.int64)
    group = np.digitize(age, [26, 41, 61])
    employment_p = _EMPLOYMENT_P[group]
    employment_p[:, 2] += 0.06 * cov
    employment = _choose(rng, employment_p)
    unemployed, self_employed = employment == 2, employment == 1
    discipline = rng.normal(0.0, 1.0, n)  # unobserved: higher means more likely to default

    hump = 0.35 * (1 - np.clip((age - 48) / 30, -1, 1) ** 2)
    log_income = (
        np.log(_MEDIAN_INCOME)
        + _EMPLOYMENT_INCOME[employment]
        + hump
        - 0.2 * female
        + rng.normal(0.0, 0.45, n) * (1 + 0.4 * self_employed)
    )
    income = np.maximum(np.round(np.exp(log_income), -2), 1_200.0)
    rel_income = np.log(income / _MEDIAN_INCOME)

    history = np.round((age - 18) * rng.beta(2.5, 1.5, n) + rng.uniform(0, 1, n), 1)
    accounts = rng.poisson(0.8 + 0.25 * history**0.7 + 0.5 * (rel_income > 0), n)
    accounts = np.minimum(accounts, 30).astype(np.int64)
    late = rng.poisson(
        np.exp(-1.8 + 0.75 * discipline + 0.5 * unemployed + 0.3 * (history < 2)), n
    ).astype(np.int64)

    housing_logits = np.column_stack(
        [
            np.zeros(n),  # rent
            -2.6 + 0.07 * (age - 25) + 0.3 * rel_income,  # own
            -1.0 + 0.9 * rel_income + 0.03 * np.minimum(age - 18, 25),  # mortgage
            1.6 - 0.15 * (age - 18),  # family
        ]
    )
    housing = _choose(rng, _softmax(housing_logits))
    purpose_logits = np.column_stack(
        [
            np.full(n, 0.5),  # car
            -0.3 + 0.6 * (housing == 2) + 0.3 * rel_income,  # home
            np.where(group == 0, 1.2, -2.5) + 1.0 * (employment == 4),  # education
            np.where(self_employed, 1.0, -1.8),  # business
            0.3 + 0.45 * discipline + 0.3 * (late > 0),  # debt_consolidation
            np.zeros(n),  # other
        ]
    )
    purpose = _choose(rng, _softmax(purpose_logits))

    # The loan: amount by purpose and income, term by amount, price by the lender's view.
    log_amount = (
        np.log(_PURPOSE_AMOUNT[purpose]) + 0.45 * rel_income + 0.25 * cov + rng.normal(0, 0.5, n)
    )
    amount = np.clip(np.round(np.exp(log_amount), -1), 500.0, 250_000.0)
    term_score = np.log(amount / 10_000) + rng.normal(0, 0.7, n)
    term = _TERMS[np.digitize(term_score, [-0.9, -0.2, 0.4, 0.9])].astype(np.int64)
    existing_dti = 0.14 * (1 + 0.35 * cov) * np.exp(0.3 * discipline + rng.normal(0, 0.5, n))
    rate = (
        9.0
        + 0.9 * np.minimum(late, 4)
        + 6.0 * existing_dti
        - 1.2 * rel_income
        + 1.5 * unemployed
        + 0.03 * (term - 36)
        + 1.5 * (_PURPOSES[purpose] == "business")
        - 0.8 * (_PURPOSES[purpose] == "home")
        - 0.05 * np.minimum(history, 20)
        + rng.normal(0, 1.3, n)
    )
    rate = np.round(np.clip(rate, 2.9, 29.9), 2)
    monthly_rate = rate / 1200
    installment = amount * monthly_rate / (1 - (1 + monthly_rate) ** (-term))
    dti = np.round(np.minimum(existing_dti + installment * 12 / income, 2.5), 3)

    missing_income = rng.random(n) < 0.02
    missing_history = rng.random(n) < 0.03

    # Default logit: the "concept". Concept drift reweights it; sex does not enter it.
    loan_to_income = amount / income
    logit = (
        -2.0
        + 0.15 * con
        + (2.0 + 1.6 * con) * (dti - 0.35)
        + 0.5 * (1 - 0.6 * min(con, 1.5)) * np.minimum(late, 5)
        + 0.4 * (dti - 0.35) * (late > 0)
        - 0.6 * rel_income
        + 0.6 * unemployed
        + (0.2 + 0.9 * con) * self_employed
        + 0.25 * (employment == 4)
        - 0.15 * (employment == 3)
        - 0.3 * np.log1p(history)
        + 0.25 * np.log(loan_to_income)
        + 0.3 * unemployed * (loan_to_income > 0.5)
        + 0.06 * (rate - 10)
        + 0.01 * (term - 36)
        + 0.15 * (housing == 0)
        - 0.2 * (housing == 1)
        + 0.3 * (purpose == 3)
        - 0.2 * (purpose == 1)
        + 0.7 * discipline
    )
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    return pd.DataFrame(
        {
            "application_id": [f"A{i + 1:07d}" for i in range(n)],
            "applied_at": applied_at,
            "age": age,
            "sex": _SEXES[np.where(female, 0, 1)],
            "age_group": _AGE_GROUPS[group],
            "income": np.where(missing_income, np.nan, income),
            "employment": _EMPLOYMENT[employment],
            "housing": _HOUSING[housing],
            "loan_amount": amount,
            "loan_term_months": term,
            "interest_rate": rate,
            "debt_to_income": dti,
            "credit_history_years": np.where(missing_history, np.nan, history),
            "num_open_accounts": accounts,
            "late_payments_2y": late,
            "purpose": _PURPOSES[purpose],
            CREDIT_TARGET: defaulted,
        }
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an ``(n, k)`` array of logits."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of an ``(n, k)`` array of (unnormalised) probabilities."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), probs.shape[1] - 1)
