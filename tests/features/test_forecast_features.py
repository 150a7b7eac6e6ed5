from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from headway.exceptions import DataError
from headway.features.forecast import ForecastFeatures, refresh_history

NAN = np.nan


def history() -> pd.DataFrame:
    """Two series of store 1: product x from Jan 1 (Jan 3 unknown), product y from Jan 3."""
    x_dates = pd.date_range("2024-01-01", "2024-01-06")
    y_dates = pd.date_range("2024-01-03", "2024-01-06")
    return pd.DataFrame(
        {
            "store": [1] * 10,
            "product": ["x"] * 6 + ["y"] * 4,
            "date": list(x_dates) + list(y_dates),
            "units": [10, 11, NAN, 13, 14, 15, 1, 2, 3, 4],
            "price": 1.5,
        }
    )


def features(**params: object) -> ForecastFeatures:
    settings: dict[str, object] = {
        "series_columns": ["store", "product"],
        "timestamp_column": "date",
        "target": "units",
        "horizon": 2,
        "lags": [2, 3],
        "windows": [3],
    }
    settings.update(params)
    return ForecastFeatures(**settings)  # type: ignore[arg-type]


def queries() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store": [1, 1, 1, 1, 2, 1],
            "product": ["x", "x", "y", "y", "x", "x"],
            "date": pd.to_datetime(
                ["2024-01-06", "2024-01-03", "2024-01-07", "2024-01-04", "2024-01-06", "2024-01-09"]
            ),
            "price": [2.0, 2.1, 2.2, 2.3, 2.4, 2.5],
        },
        index=[10, 3, 7, 99, 5, 1],
    )


def test_lags_and_rolling_means_are_exact() -> None:
    out = features().fit(history()).transform(queries())
    # x Jan 6: lag 2 = Jan 4; lag 3 = Jan 3 (unknown); mean of Jan 2..4 = (11 + 13) / 2.
    # x Jan 3: lag 2 = Jan 1; lag 3 before the history; window Dec 30..Jan 1 = Jan 1 only.
    # y Jan 7 (after the history): Jan 5, Jan 4, mean of Jan 3..5.
    # y Jan 4: Jan 2 and Jan 1 are before y's first row; so is its whole window.
    # store 2 was never seen. x Jan 9: Jan 7 is after the history, Jan 6; mean of Jan 5..7.
    np.testing.assert_array_equal(out["lag_2"], [13, 10, 3, NAN, NAN, NAN])
    np.testing.assert_array_equal(out["lag_3"], [NAN, NAN, 2, NAN, NAN, 15])
    np.testing.assert_allclose(out["rolling_mean_3"], [12, 10, 2, NAN, NAN, 14.5])


def test_rows_keep_order_and_index_and_lose_timestamp_and_target() -> None:
    fitted = features().fit(history())
    frame = queries().assign(units=99.0)
    out = fitted.transform(frame)
    assert list(out.index) == [10, 3, 7, 99, 5, 1]
    assert list(out.columns) == [
        "store",
        "product",
        "price",
        "lag_2",
        "lag_3",
        "rolling_mean_3",
        "dayofweek",
        "month",
        "dayofyear",
        "weekofyear",
        "is_weekend",
    ]
    assert list(out["price"]) == [2.0, 2.1, 2.2, 2.3, 2.4, 2.5]
    assert list(fitted.get_feature_names_out(list(frame.columns))) == list(out.columns)
    assert list(fitted.get_feature_names_out()) == list(out.columns)
    # A target column in the input is ignored, not read.
    pd.testing.assert_frame_equal(out, fitted.transform(queries()))


def test_calendar_features_of_known_dates() -> None:
    fitted = features().fit(history())
    frame = pd.DataFrame(
        {
            "store": 1,
            "product": "x",
            "date": pd.to_datetime(["2024-01-06", "2024-01-03", "2024-12-30", "2023-01-01"]),
        }
    )
    out = fitted.transform(frame)
    assert list(out["dayofweek"]) == [5, 2, 0, 6]  # Saturday, Wednesday, Monday, Sunday
    assert list(out["is_weekend"]) == [1, 0, 0, 1]
    assert list(out["month"]) == [1, 1, 12, 1]
    assert list(out["dayofyear"]) == [6, 3, 365, 1]  # 2024 is a leap year
    assert list(out["weekofyear"]) == [1, 1, 1, 52]  # ISO weeks


def test_params_are_stored_unchanged_and_defaults_resolved_in_fit() -> None:
    step = ForecastFeatures(
        series_columns=("store", "product"), timestamp_column="date", target="units"
    )
    assert step.get_params()["lags"] is None
    assert step.get_params()["series_columns"] == ("store", "product")
    step.fit(history())
    assert step.lags_ == [7, 14, 28]
    assert step.windows_ == [7, 28]
    assert step.get_params()["lags"] is None
    clone(step)  # sklearn's clone accepts the constructor


def test_defaults_follow_the_horizon() -> None:
    step = features(horizon=3, lags=None, windows=None).fit(history())
    assert step.lags_ == [3, 6, 12]


def test_numeric_series_ids_match_across_types() -> None:
    fitted = features().fit(history())
    frame = pd.DataFrame(
        {"store": [1.0, 1.0], "product": ["x", "x"], "date": ["2024-01-06", "2024-01-06"]}
    )
    as_text = frame.assign(store=["1", "1"])
    assert list(fitted.transform(frame)["lag_2"]) == [13, 13]
    assert list(fitted.transform(as_text)["lag_2"]) == [13, 13]


def test_target_may_come_from_y() -> None:
    frame = history()
    fitted = features().fit(frame.drop(columns="units"), frame["units"])
    expected = features().fit(frame).transform(queries())
    pd.testing.assert_frame_equal(fitted.transform(queries()), expected)


def random_history(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-03-01", periods=60)
    frame = pd.DataFrame(
        {
            "shop": np.repeat(["a", "b", "c"], len(dates)),
            "date": np.tile(dates, 3),
            "units": rng.poisson(20, 3 * len(dates)).astype(float),
        }
    )
    frame.loc[rng.random(len(frame)) < 0.1, "units"] = NAN
    return frame.sample(frac=1.0, random_state=seed)  # any row order


def test_no_feature_of_row_t_depends_on_targets_after_t_minus_horizon() -> None:
    horizon = 5
    step = ForecastFeatures(
        series_columns=["shop"],
        timestamp_column="date",
        target="units",
        horizon=horizon,
        lags=[5, 8],
        windows=[3, 10],
    )
    frame = random_history()
    rng = np.random.default_rng(1)
    for day in ["2024-03-12", "2024-04-01", "2024-04-29"]:
        t = pd.Timestamp(day)
        rows = frame[frame["date"] == t].drop(columns="units")
        before = step.fit(frame).transform(rows)
        assert before.filter(like="lag_").notna().any().any()
        late = frame["date"] > t - pd.Timedelta(days=horizon)
        perturbed = frame.copy()
        perturbed.loc[late, "units"] = rng.normal(1000, 500, int(late.sum()))
        after = step.fit(perturbed).transform(rows)
        pd.testing.assert_frame_equal(before, after)
        # The test can see a change: the value at exactly t - horizon is used.
        edge = frame["date"] == t - pd.Timedelta(days=horizon)
        moved = frame.copy()
        moved.loc[edge, "units"] = 1e6
        assert not step.fit(moved).transform(rows).equals(before)


def test_lag_below_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match=r"forecast\.lags.*at least the horizon"):
        features(horizon=7, lags=[1, 7]).fit(history())


def test_duplicated_series_and_date_is_a_data_error() -> None:
    frame = pd.concat([history(), history().iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError) as error:
        features().fit(frame)
    message = str(error.value)
    assert "'store'" in message and "'product'" in message and "'date'" in message
    assert "product=x" in message and "2024-01-02" in message
    assert "one row per series and period" in message


def test_missing_column_is_a_data_error_naming_it() -> None:
    with pytest.raises(DataError, match="'units'"):
        features().fit(history().drop(columns="units"))
    with pytest.raises(DataError, match="'product'"):
        features().fit(history()).transform(queries().drop(columns="product"))


def test_unparseable_timestamp_is_a_data_error() -> None:
    frame = history().astype({"date": str})
    frame.loc[2, "date"] = "not a date"
    with pytest.raises(DataError, match=r"'date'.*not a date"):
        features().fit(frame)


def test_with_history_fills_lags_and_prefers_the_new_values() -> None:
    old = features(lags=[2, 4]).fit(history())
    newer = pd.DataFrame(
        {
            "store": [1, 1, 1, 1, 3],
            "product": ["x", "x", "x", "y", "z"],
            "date": pd.to_datetime(
                ["2024-01-05", "2024-01-07", "2024-01-08", "2024-01-06", "2024-01-08"]
            ),
            "units": [140, 16, 17, NAN, 7],
        }
    )
    rows = pd.DataFrame(
        {
            "store": [1, 1, 3],
            "product": ["x", "y", "z"],
            "date": pd.to_datetime(["2024-01-09", "2024-01-08", "2024-01-10"]),
        }
    )
    before = old.transform(rows)
    np.testing.assert_array_equal(before["lag_2"], [NAN, 4, NAN])
    np.testing.assert_array_equal(before["lag_4"], [14, 2, NAN])

    refreshed = old.with_history(newer)
    after = refreshed.transform(rows)
    # x Jan 7 is new, x Jan 5 is overwritten (140), y Jan 6 stays 4 (the new value is NaN),
    # series z is new.
    np.testing.assert_array_equal(after["lag_2"], [16, 4, 7])
    np.testing.assert_array_equal(after["lag_4"], [140, 2, NAN])
    assert refreshed.get_params() == old.get_params()
    pd.testing.assert_frame_equal(old.transform(rows), before)  # the old one is unchanged


def fitted_pipeline() -> Pipeline:
    frame = history()
    pipe = Pipeline([("make_features", features()), ("model", DummyRegressor())])
    return pipe.fit(frame, frame["units"].fillna(0))


def test_refresh_history_replaces_the_first_step_only() -> None:
    pipe = fitted_pipeline()
    newer = pd.DataFrame(
        {"store": [1], "product": ["x"], "date": pd.to_datetime(["2024-01-07"]), "units": [42]}
    )
    refreshed = refresh_history(pipe, newer)
    assert refreshed is not pipe
    assert [name for name, _ in refreshed.steps] == ["make_features", "model"]
    assert refreshed.steps[1][1] is pipe.steps[1][1]
    rows = pd.DataFrame({"store": [1], "product": ["x"], "date": pd.to_datetime(["2024-01-09"])})
    assert refreshed[0].transform(rows)["lag_2"].tolist() == [42]
    assert np.isnan(pipe[0].transform(rows)["lag_2"].iloc[0])  # the original is unchanged
    assert refreshed.predict(rows).tolist() == pipe.predict(rows).tolist()


def test_refresh_history_leaves_other_estimators_alone() -> None:
    newer = history()
    model = DummyRegressor().fit(newer[["price"]], newer["units"].fillna(0))
    assert refresh_history(model, newer) is model
    other = Pipeline([("identity", FunctionTransformer()), ("model", DummyRegressor())])
    assert refresh_history(other, newer) is other


def test_survives_a_skops_round_trip() -> None:
    fitted = features().fit(history())
    data = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted == ["headway.features.forecast.ForecastFeatures"]
    loaded = sio.loads(data, trusted=untrusted)
    pd.testing.assert_frame_equal(loaded.transform(queries()), fitted.transform(queries()))


def test_weekly_frequency() -> None:
    mondays = pd.date_range("2024-01-01", periods=8, freq="W-MON")
    frame = pd.DataFrame({"sku": "a", "week": mondays, "units": np.arange(8.0)})
    step = ForecastFeatures(
        series_columns=["sku"],
        timestamp_column="week",
        target="units",
        horizon=1,
        lags=[1, 2],
        windows=[2],
        frequency="W",
    ).fit(frame)
    # Any day of a week names that week: Wednesday of week 8 and Sunday of week 9.
    rows = pd.DataFrame({"sku": "a", "week": pd.to_datetime(["2024-02-21", "2024-03-03"])})
    out = step.transform(rows)
    assert list(out.columns) == ["sku", "lag_1", "lag_2", "rolling_mean_2", "month", "weekofyear"]
    np.testing.assert_array_equal(out["lag_1"], [6, 7])
    np.testing.assert_array_equal(out["lag_2"], [5, 6])
    np.testing.assert_allclose(out["rolling_mean_2"], [5.5, 6.5])
    assert list(out["weekofyear"]) == [8, 9]
    with pytest.raises(DataError, match="one row per series and period"):
        step.fit(pd.concat([frame, frame.assign(week=mondays + pd.Timedelta(days=2))]))


def test_monthly_frequency() -> None:
    months = pd.date_range("2024-01-01", periods=6, freq="MS")
    frame = pd.DataFrame({"sku": "a", "month_start": months, "units": [1.0, 2, 3, 4, 5, 6]})
    step = ForecastFeatures(
        series_columns=["sku"],
        timestamp_column="month_start",
        target="units",
        horizon=1,
        lags=[1, 12],
        windows=[3],
        frequency="MS",
    ).fit(frame)
    out = step.transform(pd.DataFrame({"sku": ["a"], "month_start": ["2024-07-15"]}))
    assert list(out.columns) == ["sku", "lag_1", "lag_12", "rolling_mean_3", "month"]
    assert out.iloc[0].tolist()[1:] == [6.0, pytest.approx(NAN, nan_ok=True), 5.0, 7]
