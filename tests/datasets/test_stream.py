"""``make_stream``: rows of an example's population after training, drifting at a given row;
ids and times that never meet the training table's."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import pytest

from headway.datasets import make_churn, make_credit, make_stream

INPUTS = [c for c in make_churn(5).columns if c != "churned"]


def test_the_same_seed_gives_the_same_stream() -> None:
    first = make_stream("churn", 600, drift="gradual", at=200, width=300, seed=3)
    again = make_stream("churn", 600, drift="gradual", at=200, width=300, seed=3)
    other = make_stream("churn", 600, drift="gradual", at=200, width=300, seed=4)

    pd.testing.assert_frame_equal(first, again)
    assert not first["monthly_charges"].equals(other["monthly_charges"])


@pytest.mark.parametrize(
    ("example", "make", "id_column", "time_column"),
    [
        ("churn", make_churn, "customer_id", "observed_at"),
        ("credit", make_credit, "application_id", "applied_at"),
    ],
)
def test_stream_rows_are_new_rows_of_the_training_table_s_kind(
    example: str, make: Callable[..., pd.DataFrame], id_column: str, time_column: str
) -> None:
    for seed in (0, 7):
        training = make(3000, seed=seed)
        stream = make_stream(example, 3000, drift="covariate", at=1000, seed=seed)

        assert list(stream.columns) == list(training.columns)
        assert stream.dtypes.to_dict() == training.dtypes.to_dict()
        assert len(stream) == 3000
        # Ids: unique, recognisably the stream's, never a training id.
        assert stream[id_column].is_unique
        assert stream[id_column].str.startswith("S").all()
        assert not set(stream[id_column]) & set(training[id_column])
        # Times: after the training window, in order across the drift point.
        assert stream[time_column].min() > training[time_column].max()
        assert stream[time_column].is_monotonic_increasing


def test_stream_rows_differ_from_the_training_rows_of_the_same_seed() -> None:
    training = make_churn(1000, seed=0)
    stream = make_stream("churn", 1000, seed=0)

    same = stream["monthly_charges"].to_numpy() == training["monthly_charges"].to_numpy()
    assert same.mean() < 0.05


def test_covariate_drift_starts_at_the_drift_point() -> None:
    at = 2500
    stream = make_stream("churn", 4000, drift="covariate", at=at)
    reference = make_stream("churn", 4000)

    pd.testing.assert_frame_equal(stream.iloc[:at], reference.iloc[:at])
    month_to_month = stream["contract"].eq("month-to-month")
    assert month_to_month.iloc[at:].mean() - month_to_month.iloc[:at].mean() > 0.08
    assert (
        stream["monthly_charges"].iloc[at:].mean() > reference["monthly_charges"].iloc[at:].mean()
    )
    moved = stream["monthly_charges"].iloc[at:] != reference["monthly_charges"].iloc[at:]
    assert moved.mean() > 0.95


def test_concept_drift_keeps_the_inputs_and_changes_the_rule() -> None:
    at = 3000
    stream = make_stream("churn", 6000, drift="concept", at=at)
    reference = make_stream("churn", 6000)

    pd.testing.assert_frame_equal(stream[INPUTS], reference[INPUTS])
    assert stream["churned"].iloc[:at].equals(reference["churned"].iloc[:at])
    assert not stream["churned"].iloc[at:].equals(reference["churned"].iloc[at:])

    # Support tickets stop mattering after the drift point.
    def ticket_effect(rows: pd.DataFrame) -> float:
        many = rows["support_tickets_90d"] >= 2
        return float(rows.loc[many, "churned"].mean() - rows.loc[~many, "churned"].mean())

    assert ticket_effect(stream.iloc[at:]) < ticket_effect(stream.iloc[:at]) - 0.05


def test_gradual_drift_sets_in_over_the_width() -> None:
    at, width = 1000, 3000
    stream = make_stream("churn", 6000, drift="gradual", at=at, width=width)
    reference = make_stream("churn", 6000)

    drifted = stream["monthly_charges"] != reference["monthly_charges"]
    assert not drifted.iloc[:at].any()
    thirds = [drifted.iloc[at + k * 1000 : at + (k + 1) * 1000].mean() for k in range(3)]
    assert thirds[0] < thirds[1] < thirds[2]
    assert 0.05 < thirds[0] < 0.35
    assert 0.65 < thirds[2] < 0.97
    assert drifted.iloc[at + width :].mean() > 0.95


def test_gradual_drift_spreads_over_the_rest_of_the_stream_by_default() -> None:
    stream = make_stream("churn", 2000, drift="gradual", at=400)
    reference = make_stream("churn", 2000)

    drifted = stream["monthly_charges"] != reference["monthly_charges"]
    assert not drifted.iloc[:400].any()
    assert drifted.iloc[400:600].mean() < 0.3
    assert drifted.iloc[1800:].mean() > 0.8


def test_credit_concept_drift_keeps_the_applicants() -> None:
    stream = make_stream("credit", 2000, drift="concept", at=500)
    reference = make_stream("credit", 2000)

    inputs = [c for c in stream.columns if c != "defaulted"]
    pd.testing.assert_frame_equal(stream[inputs], reference[inputs])


def test_demand_stream_continues_the_daily_grid() -> None:
    stream = make_stream("demand", 150)
    drifted = make_stream("demand", 150, drift="covariate", at=60)

    assert len(stream) == 150
    assert stream["date"].min() >= pd.Timestamp("2026-01-01")
    assert stream["date"].is_monotonic_increasing
    pd.testing.assert_frame_equal(drifted.iloc[:60], stream.iloc[:60])
    assert drifted["price"].iloc[60:].mean() > stream["price"].iloc[60:].mean()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"example": "weather"}, "example"),
        ({"n_rows": 0}, "n_rows"),
        ({"drift": "sideways"}, "drift"),
        ({"drift": "covariate", "at": 100}, "at"),
        ({"drift": "covariate", "at": -1}, "at"),
        ({"at": 10}, "at"),
        ({"drift": "covariate", "width": 10}, "width"),
        ({"drift": "gradual", "width": -1}, "width"),
        ({"drift": "covariate", "strength": -1.0}, "strength"),
        ({"drift": "covariate", "strength": math.nan}, "strength"),
        ({"seed": -1}, "seed"),
        ({"days": 0}, "days"),
        ({"start": "not a date"}, "start"),
    ],
)
def test_bad_arguments_name_the_argument(arguments: dict[str, object], named: str) -> None:
    call: dict[str, object] = {"example": "churn", "n_rows": 100, **arguments}
    with pytest.raises(ValueError, match=rf"\b{named}\b"):
        make_stream(**call)  # type: ignore[arg-type]
