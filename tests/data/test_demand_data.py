from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from headway.datasets.demand import DEMAND_TARGET, make_demand

KEY = ["store_id", "product_id"]
COLUMNS = [
    "date",
    "store_id",
    "product_id",
    "category",
    "store_type",
    "price",
    "promo",
    "holiday",
    "units_sold",
]


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return make_demand(seed=0)


def _open_days(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["holiday"] == 0]


def _promo_and_price_coefs(frame: pd.DataFrame) -> np.ndarray:
    """Within-series least squares of log1p(units) on promo and log price (plus time)."""
    frame = frame[(frame["holiday"] == 0) & frame["price"].notna()]
    series = (frame["store_id"] + frame["product_id"]).to_numpy()
    x = pd.DataFrame(
        {
            "promo": frame["promo"].to_numpy(float),
            "log_price": np.log(frame["price"].to_numpy()),
            "time": (frame["date"] - frame["date"].min()).dt.days.to_numpy(float) / 365.25,
            "y": np.log1p(frame[DEMAND_TARGET].to_numpy(float)),
        }
    )
    centred = x - x.groupby(series).transform("mean")
    columns = ["promo", "log_price", "time"]
    coefs, *_ = np.linalg.lstsq(centred[columns], centred["y"], rcond=None)
    return coefs[:2]


def test_same_seed_same_table_and_other_seed_differs() -> None:
    a, b, c = make_demand(3000, seed=1), make_demand(3000, seed=1), make_demand(3000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a[DEMAND_TARGET].equals(c[DEMAND_TARGET])
    assert not a["price"].equals(c["price"])


def test_columns_and_dtypes(ref: pd.DataFrame) -> None:
    assert list(ref.columns) == COLUMNS
    assert DEMAND_TARGET == "units_sold"
    assert ref["date"].dtype == np.dtype("datetime64[ns]")  # naive, nanoseconds
    for column in ("store_id", "product_id", "category", "store_type"):
        assert pd.api.types.is_string_dtype(ref[column]), column
    assert ref["price"].dtype == np.float64
    for column in ("promo", "holiday", DEMAND_TARGET):
        assert ref[column].dtype == np.int64, column
    assert set(ref["promo"].unique()) == {0, 1}
    assert set(ref["holiday"].unique()) == {0, 1}
    assert ref["store_id"].nunique() == 4 and ref["product_id"].nunique() == 15
    assert sorted(ref["store_id"].unique()) == ["S01", "S02", "S03", "S04"]
    assert ref["product_id"].min() == "P001" and ref["product_id"].max() == "P015"
    # Attributes are fixed per product and per store.
    assert ref.groupby("product_id")["category"].nunique().max() == 1
    assert ref.groupby("store_id")["store_type"].nunique().max() == 1
    assert ref["category"].nunique() >= 4
    assert ref["store_type"].nunique() >= 2


def test_full_sorted_grid() -> None:
    frame = make_demand(6000, seed=3, n_stores=3, n_products=7, start="2022-03-01")
    n_series = 3 * 7
    n_days = round(6000 / n_series)
    assert len(frame) == n_days * n_series
    assert abs(len(frame) - 6000) < n_series
    assert not frame.duplicated([*KEY, "date"]).any()
    assert (frame.groupby(KEY)["date"].nunique() == n_days).all()
    dates = pd.DatetimeIndex(frame["date"].unique())
    assert dates[0] == pd.Timestamp("2022-03-01")
    assert (dates == pd.date_range("2022-03-01", periods=n_days, freq="D")).all()
    pd.testing.assert_frame_equal(frame, frame.sort_values(["date", *KEY]).reset_index(drop=True))
    # Tiny requests still give one full day.
    assert len(make_demand(1, n_stores=2, n_products=3)) == 6


def test_target_and_price_values(ref: pd.DataFrame) -> None:
    units = ref[DEMAND_TARGET]
    assert units.notna().all() and (units >= 0).all()
    series_means = ref.groupby(KEY)[DEMAND_TARGET].mean()
    assert 10 < units.mean() < 35
    assert series_means.min() > 2 and series_means.max() < 100
    assert 0.003 < ref["price"].isna().mean() < 0.03
    assert (ref["price"].dropna() > 0).all()


def test_promotions_come_in_runs_and_lift_sales(ref: pd.DataFrame) -> None:
    assert 0.07 < ref["promo"].mean() < 0.2
    promo = ref.pivot(index="date", columns=KEY, values="promo").to_numpy()
    starts = (np.diff(promo, axis=0) == 1).sum()
    assert promo.sum() / starts > 3  # several consecutive days per run
    means = _open_days(ref).groupby([*KEY, "promo"])[DEMAND_TARGET].mean().unstack()
    ratio = means[1] / means[0]
    assert ratio.median() > 1.4
    assert (ratio > 1).mean() > 0.9
    # Promo prices are discounted against the same series' regular price.
    prices = ref.groupby([*KEY, "promo"])["price"].median().unstack()
    assert (prices[1] < prices[0]).mean() > 0.9


def test_holidays_close_stores_and_lift_the_days_before(ref: pd.DataFrame) -> None:
    assert ref.groupby("date")["holiday"].nunique().max() == 1  # one calendar for all
    by_date = ref.groupby("date").agg(units=(DEMAND_TARGET, "mean"), holiday=("holiday", "max"))
    holidays = by_date.index[by_date["holiday"] == 1]
    for day in ("2023-01-01", "2023-04-07", "2023-04-10", "2023-05-01", "2023-12-25"):
        assert pd.Timestamp(day) in holidays, day
    assert ((holidays >= "2024-01-01") & (holidays < "2025-01-01")).sum() == 8
    around = by_date["units"].reindex(holidays - pd.Timedelta(days=7)).to_numpy()
    around = np.nanmean([around, by_date["units"].reindex(holidays + pd.Timedelta(days=7))])
    assert by_date.loc[holidays, "units"].mean() < 0.1 * around
    eve = by_date.index.isin(holidays - pd.Timedelta(days=1)) & (by_date["holiday"] == 0)
    regular = by_date.loc[by_date["holiday"] == 0, "units"].mean()
    assert by_date.loc[eve, "units"].mean() > 1.1 * regular


def test_weekly_seasonality(ref: pd.DataFrame) -> None:
    open_days = _open_days(ref)
    by_dow = open_days.groupby(open_days["date"].dt.day_of_week)[DEMAND_TARGET].mean()
    assert by_dow.max() / by_dow.min() > 1.2
    assert by_dow.idxmax() == 5  # Saturday


def test_lagged_sales_carry_information_beyond_calendar(ref: pd.DataFrame) -> None:
    frame = ref.copy()
    grouped = frame.groupby(KEY)[DEMAND_TARGET]
    centred = frame[DEMAND_TARGET] - grouped.transform("mean")
    lag7 = grouped.shift(7) - grouped.transform("mean")
    ok = lag7.notna()
    assert np.corrcoef(centred[ok], lag7[ok])[0, 1] > 0.3

    # Remove series x weekday x month means: what is left still autocorrelates.
    frame["log_units"] = np.log1p(frame[DEMAND_TARGET])
    calendar = [*KEY, frame["date"].dt.day_of_week, frame["date"].dt.month]
    frame["resid"] = frame["log_units"] - frame.groupby(calendar)["log_units"].transform("mean")
    for lag, floor in ((1, 0.3), (7, 0.1)):
        lagged = frame.groupby(KEY)["resid"].shift(lag)
        ok = lagged.notna() & (frame["holiday"] == 0)
        assert np.corrcoef(frame.loc[ok, "resid"], lagged[ok])[0, 1] > floor, lag


def test_covariate_drift_moves_features(ref: pd.DataFrame) -> None:
    drifted = make_demand(seed=0, drift="covariate")
    assert drifted["price"].mean() > ref["price"].mean() * 1.1
    assert drifted["promo"].mean() > ref["promo"].mean() * 1.3
    assert drifted[DEMAND_TARGET].mean() > ref[DEMAND_TARGET].mean()
    # The rule stays: promo and price effects are about the same.
    ref_coefs, drift_coefs = _promo_and_price_coefs(ref), _promo_and_price_coefs(drifted)
    np.testing.assert_allclose(drift_coefs, ref_coefs, rtol=0.25)
    # No strength, no drift.
    pd.testing.assert_frame_equal(make_demand(seed=0, drift="covariate", drift_strength=0), ref)


def test_concept_drift_keeps_features_changes_the_rule(ref: pd.DataFrame) -> None:
    drifted = make_demand(seed=0, drift="concept")
    features = [c for c in COLUMNS if c != DEMAND_TARGET]
    pd.testing.assert_frame_equal(drifted[features], ref[features])
    ref_promo, ref_price = _promo_and_price_coefs(ref)
    drift_promo, drift_price = _promo_and_price_coefs(drifted)
    assert ref_price < -0.3 and drift_price < 1.5 * ref_price  # elasticity grows
    assert drift_promo < 0.6 * ref_promo  # promo lift shrinks

    def weekend_ratio(frame: pd.DataFrame) -> float:
        open_days = _open_days(frame)
        weekend = open_days["date"].dt.day_of_week >= 5
        units = open_days[DEMAND_TARGET]
        return float(units[weekend].mean() / units[~weekend].mean())

    assert weekend_ratio(ref) > 1.05 and weekend_ratio(drifted) < 0.95


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_rows"):
        make_demand(0)
    with pytest.raises(ValueError, match="n_stores"):
        make_demand(10, n_stores=0)
    with pytest.raises(ValueError, match="n_products"):
        make_demand(10, n_products=0)
    with pytest.raises(ValueError, match="drift must be None, 'covariate' or 'concept'"):
        make_demand(10, drift="seasonal")  # type: ignore[arg-type]
