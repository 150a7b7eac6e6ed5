from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from headway import ConfigError, load_config
from headway.datasets import make_churn, write_example


def test_same_seed_same_table_and_other_seed_differs() -> None:
    a, b, c = make_churn(2000, seed=1), make_churn(2000, seed=1), make_churn(2000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.drop(columns="customer_id").equals(c.drop(columns="customer_id"))


def test_realistic_shape() -> None:
    frame = make_churn(20_000, seed=0)
    assert len(frame) == 20_000
    assert frame["customer_id"].is_unique
    assert str(frame["observed_at"].dt.tz) == "UTC"
    assert 0.10 < frame["churned"].mean() < 0.25  # imbalanced
    for column in ("total_charges", "days_since_last_login", "age", "payment_method"):
        assert 0.01 < frame[column].isna().mean() < 0.15, column
    categorical = frame.select_dtypes(exclude=["number", "datetime"]).columns
    assert {"region", "plan", "contract", "payment_method", "has_discount"} <= set(categorical)


def test_covariate_drift_moves_features() -> None:
    ref = make_churn(20_000, seed=0)
    drifted = make_churn(20_000, seed=0, drift="covariate")
    assert drifted["monthly_charges"].mean() > ref["monthly_charges"].mean() * 1.05
    assert (drifted["contract"] == "month-to-month").mean() > (
        ref["contract"] == "month-to-month"
    ).mean()


def test_concept_drift_keeps_features_changes_labels() -> None:
    ref = make_churn(20_000, seed=0)
    drifted = make_churn(20_000, seed=0, drift="concept")
    pd.testing.assert_series_equal(ref["monthly_charges"], drifted["monthly_charges"])

    # Support tickets stop mattering: their coefficient, other things equal, collapses.
    def tickets_coef(frame: pd.DataFrame) -> float:
        x = frame[["support_tickets_90d", "monthly_charges", "tenure_months"]].to_numpy()
        model = LogisticRegression(max_iter=1000).fit((x - x.mean(0)) / x.std(0), frame["churned"])
        return float(model.coef_[0][0])

    assert tickets_coef(ref) > 0.2
    assert abs(tickets_coef(drifted)) < 0.1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_rows"):
        make_churn(0)
    with pytest.raises(ValueError, match="drift"):
        make_churn(10, drift="seasonal")  # type: ignore[arg-type]


def test_write_example_files(tmp_path: Path) -> None:
    config_path = write_example("churn", tmp_path / "p", n_rows=500)
    config = load_config(config_path)
    assert config.task == "binary" and config.data.target == "churned"
    data = pd.read_csv(tmp_path / "p" / "data" / "customers.csv")
    assert len(data) == 500
    assert ".headway/" in (tmp_path / "p" / ".gitignore").read_text()
    with pytest.raises(ConfigError, match="already exists"):
        write_example("churn", tmp_path / "p", n_rows=500)
    with pytest.raises(ConfigError, match="unknown example 'fraud'"):
        write_example("fraud", tmp_path / "q")
