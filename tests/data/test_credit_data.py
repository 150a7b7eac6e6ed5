from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from headway.datasets.credit import CREDIT_TARGET, make_credit

COLUMNS = [
    "application_id",
    "applied_at",
    "age",
    "sex",
    "age_group",
    "income",
    "employment",
    "housing",
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "debt_to_income",
    "credit_history_years",
    "num_open_accounts",
    "late_payments_2y",
    "purpose",
    "defaulted",
]
NUMERIC = [
    "age",
    "income",
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "debt_to_income",
    "credit_history_years",
    "num_open_accounts",
    "late_payments_2y",
]
CATEGORICAL = ["employment", "housing", "purpose"]  # the sensitive columns stay out of the model


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return make_credit(20_000, seed=0)


@pytest.fixture(scope="module")
def fitted(ref: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The held-out 30% of ``ref`` and a fairness-blind model's scores on it."""
    x = pd.get_dummies(ref[NUMERIC + CATEGORICAL], dtype=float)
    train = np.random.default_rng(0).random(len(ref)) < 0.7
    x = x.fillna(x[train].median())
    x = (x - x[train].mean()) / x[train].std()
    model = LogisticRegression(max_iter=1000).fit(x[train], ref.loc[train, CREDIT_TARGET])
    return ref[~train], model.predict_proba(x[~train])[:, 1]


def test_same_seed_same_table_and_other_seed_differs() -> None:
    a, b, c = make_credit(3000, seed=1), make_credit(3000, seed=1), make_credit(3000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a[CREDIT_TARGET].equals(c[CREDIT_TARGET])
    assert not a["income"].equals(c["income"])
    assert not a["applied_at"].equals(c["applied_at"])


def test_columns_dtypes_and_values(ref: pd.DataFrame) -> None:
    assert list(ref.columns) == COLUMNS
    assert CREDIT_TARGET == "defaulted"
    assert len(ref) == 20_000
    assert ref["applied_at"].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert ref["applied_at"].is_monotonic_increasing
    assert ref["applied_at"].min() >= pd.Timestamp("2023-01-01", tz="UTC")
    assert ref["applied_at"].max() < pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=730)
    for column in ("application_id", "sex", "age_group", *CATEGORICAL):
        assert pd.api.types.is_string_dtype(ref[column]), column
    for column in ("age", "loan_term_months", "num_open_accounts", "late_payments_2y"):
        assert ref[column].dtype == np.int64, column
    for column in ("income", "loan_amount", "interest_rate", "debt_to_income"):
        assert ref[column].dtype == np.float64, column
    assert ref["credit_history_years"].dtype == np.float64
    assert ref[CREDIT_TARGET].dtype == np.int64
    assert set(ref[CREDIT_TARGET].unique()) == {0, 1}

    assert ref["age"].between(18, 80).all()
    assert set(ref["sex"].unique()) == {"female", "male"}
    assert 0.47 < (ref["sex"] == "female").mean() < 0.53
    expected_group = np.select(
        [ref["age"] <= 25, ref["age"] <= 40, ref["age"] <= 60], ["18-25", "26-40", "41-60"], "60+"
    )
    assert (ref["age_group"].to_numpy() == expected_group).all()
    assert set(ref["employment"].unique()) == {
        "employed",
        "self-employed",
        "unemployed",
        "retired",
        "student",
    }
    assert set(ref["housing"].unique()) == {"rent", "own", "mortgage", "family"}
    assert set(ref["purpose"].unique()) == {
        "car",
        "home",
        "education",
        "business",
        "debt_consolidation",
        "other",
    }
    assert set(ref["loan_term_months"].unique()) == {12, 24, 36, 48, 60}
    # Students are young, the retired are old.
    assert ref.loc[ref["employment"] == "student", "age"].median() < 26
    assert ref.loc[ref["employment"] == "retired", "age"].median() > 60
    # Plausible magnitudes.
    assert 30_000 < ref["income"].median() < 70_000
    assert (ref["income"].dropna() > 0).all() and (ref["loan_amount"] > 0).all()
    assert 0.2 < ref["debt_to_income"].median() < 0.45
    assert ref["interest_rate"].between(2.5, 30).all()
    history = ref["credit_history_years"]
    assert (history[history.notna()] <= ref.loc[history.notna(), "age"] - 17).all()
    assert (ref["late_payments_2y"] == 0).mean() > 0.7  # mostly clean records


def test_unique_ids() -> None:
    frame = make_credit(5000, seed=4)
    assert frame["application_id"].is_unique
    assert frame["application_id"].iloc[0] == "A0000001"
    assert frame["application_id"].str.fullmatch(r"A\d{7}").all()
    assert len(make_credit(1)) == 1


def test_missing_values_and_target_rate(ref: pd.DataFrame) -> None:
    assert 0.01 < ref["income"].isna().mean() < 0.03
    assert 0.02 < ref["credit_history_years"].isna().mean() < 0.04
    others = ref.drop(columns=["income", "credit_history_years"])
    assert not others.isna().any().any()
    assert 0.08 < ref[CREDIT_TARGET].mean() < 0.12


def test_learnable_but_not_separable(fitted: tuple[pd.DataFrame, np.ndarray]) -> None:
    test, scores = fitted
    assert 0.72 < roc_auc_score(test[CREDIT_TARGET], scores) < 0.9


def test_no_single_feature_leaks_the_target(ref: pd.DataFrame) -> None:
    aucs = {}
    for column in NUMERIC:
        values = ref[column].fillna(ref[column].median())
        auc = roc_auc_score(ref[CREDIT_TARGET], values)
        aucs[column] = max(auc, 1 - auc)
    assert max(aucs.values()) < 0.85, aucs
    # The documented drivers do carry signal on their own.
    assert aucs["debt_to_income"] > 0.65
    assert aucs["income"] > 0.6
    assert aucs["late_payments_2y"] > 0.58


def test_sex_acts_through_income_only(
    ref: pd.DataFrame, fitted: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame = ref.dropna(subset=["income"])
    decile = pd.qcut(frame["income"], 10, labels=False)
    female = frame["sex"] == "female"
    # Women earn less in the generated population...
    assert frame.loc[female, "income"].median() < 0.9 * frame.loc[~female, "income"].median()
    # ...but at the same income they default as often as men.
    rates = frame.groupby([decile, frame["sex"]])[CREDIT_TARGET].mean().unstack()
    weights = decile.value_counts().sort_index()
    gaps = rates["female"] - rates["male"]
    assert abs(float((gaps * weights).sum() / weights.sum())) < 0.015
    assert float((gaps.abs() * weights).sum() / weights.sum()) < 0.03

    # A model that never sees sex still flags women more often (demographic parity gap).
    test, scores = fitted
    flagged = scores >= np.quantile(scores, 0.8)
    is_female = (test["sex"] == "female").to_numpy()
    parity_difference = flagged[is_female].mean() - flagged[~is_female].mean()
    assert parity_difference > 0.01


def test_covariate_drift_moves_applicants() -> None:
    ref = make_credit(20_000, seed=0)
    drifted = make_credit(20_000, seed=0, drift="covariate")
    assert drifted["debt_to_income"].mean() > ref["debt_to_income"].mean() * 1.1
    assert (drifted["employment"] == "unemployed").mean() > (
        ref["employment"] == "unemployed"
    ).mean() + 0.02
    assert drifted["loan_amount"].median() > ref["loan_amount"].median() * 1.1
    assert drifted[CREDIT_TARGET].mean() > ref[CREDIT_TARGET].mean()
    pd.testing.assert_frame_equal(
        make_credit(2000, seed=0, drift="covariate", drift_strength=0), make_credit(2000, seed=0)
    )


def test_concept_drift_keeps_features_changes_labels() -> None:
    ref = make_credit(20_000, seed=0)
    drifted = make_credit(20_000, seed=0, drift="concept")
    pd.testing.assert_frame_equal(
        ref.drop(columns=CREDIT_TARGET), drifted.drop(columns=CREDIT_TARGET)
    )
    assert not ref[CREDIT_TARGET].equals(drifted[CREDIT_TARGET])
    assert (ref[CREDIT_TARGET] != drifted[CREDIT_TARGET]).mean() > 0.03

    def relative_risk(frame: pd.DataFrame, mask: pd.Series) -> float:
        return float(frame.loc[mask, CREDIT_TARGET].mean() / frame.loc[~mask, CREDIT_TARGET].mean())

    late = ref["late_payments_2y"] > 0
    self_employed = ref["employment"] == "self-employed"
    high_dti = ref["debt_to_income"] > ref["debt_to_income"].quantile(0.8)
    assert relative_risk(drifted, late) < relative_risk(ref, late) * 0.85
    assert relative_risk(drifted, self_employed) > relative_risk(ref, self_employed) * 1.3
    assert relative_risk(drifted, high_dti) > relative_risk(ref, high_dti)
    pd.testing.assert_frame_equal(
        make_credit(2000, seed=0, drift="concept", drift_strength=0), make_credit(2000, seed=0)
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_rows"):
        make_credit(0)
    with pytest.raises(ValueError, match=r"drift.*'covariate'.*'concept'"):
        make_credit(10, drift="seasonal")  # type: ignore[arg-type]
