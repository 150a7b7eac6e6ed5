"""Lag, rolling-mean and calendar features for demand forecasting, as a scikit-learn step.

A forecasting table has a timestamp, one or more series-id columns (store, product, ...)
and a numeric target (units sold per store x product per day). :class:`ForecastFeatures`
is the first step of the model pipeline: it learns the history of the target per series
in ``fit`` and, in ``transform``, turns each row (series + timestamp + other columns) into
an ordinary tabular row for the regressor that follows it:

* ``lag_{k}``: the target of the same series ``k`` periods before the row;
* ``rolling_mean_{w}``: the mean of the known targets of the same series over the ``w``
  periods that end ``horizon`` periods before the row;
* calendar features of the row's own timestamp (``dayofweek``, ``month``, ``dayofyear``,
  ``weekofyear``, ``is_weekend`` for daily data; fewer for weekly and monthly data).

No leakage, by construction: every lag is at least ``horizon`` and every rolling window
ends at ``t - horizon``, so the features of a row at period ``t`` use only target values
of periods ``<= t - horizon``, which are known ``horizon`` periods before ``t``. The
row's own target and everything after ``t - horizon`` never enter its features (the
calendar features come from the row's timestamp, which is known in advance). The step
may therefore be fitted on the full history (train, validation and test together):
scoring a test row then simulates a forecast made ``horizon`` periods ahead of it.
Other columns of the input are passed through unchanged; only columns known in advance
(planned price, promotion, holiday) belong there.

The fitted state is plain numpy arrays, lists and ints, so the model saves with skops.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from headway.exceptions import DataError

__all__ = ["ForecastFeatures", "refresh_history"]

# Joins the series-id values into one key; a control character no id contains.
KEY_SEPARATOR = "\x1f"
# Refuse a history array larger than this (cells of float64): a stray timestamp far
# from the others would otherwise allocate gigabytes.
MAX_HISTORY_CELLS = 200_000_000
_DAILY_CALENDAR = ("dayofweek", "month", "dayofyear", "weekofyear", "is_weekend")
_WEEKLY_CALENDAR = ("month", "weekofyear")
_MONTHLY_CALENDAR = ("month",)


class ForecastFeatures(TransformerMixin, BaseEstimator):
    """Turn (series, timestamp) rows into lag, rolling-mean and calendar features.

    Args:
        series_columns: The columns whose values together identify a series.
        timestamp_column: The column with the date (or datetime) of each row.
        target: The numeric column to forecast; read in ``fit`` only.
        horizon: How many periods ahead the forecast is made; no feature of a row uses a
            target less than ``horizon`` periods before it.
        lags: The lags in periods, each at least ``horizon``; default
            ``[horizon, 2 * horizon, 4 * horizon]``.
        windows: The rolling-mean window lengths in periods; default ``[7, 28]``.
        frequency: The period of the data: ``"D"`` (daily), ``"W"`` or ``"W-MON"`` etc.
            (weekly), ``"MS"``/``"M"``/``"ME"`` (monthly). Timestamps are mapped to
            periods of this frequency; two rows of one series in one period are an error.

    Attributes:
        lags_: The resolved lags, ascending.
        windows_: The resolved windows, ascending.
        series_keys_: The series keys seen in ``fit``, sorted (series-column values as
            strings, joined with ``KEY_SEPARATOR``).
        start_: The period number (pandas ``Period`` ordinal) of the first history column.
        values_: The target history, ``n_series x n_periods`` floats; NaN where unknown.
        feature_names_in_: The columns of the frame given to ``fit``.
        n_features_in_: Their count.
    """

    def __init__(
        self,
        *,
        series_columns: Sequence[str],
        timestamp_column: str,
        target: str,
        horizon: int = 7,
        lags: Sequence[int] | None = None,
        windows: Sequence[int] | None = None,
        frequency: str = "D",
    ) -> None:
        self.series_columns = series_columns
        self.timestamp_column = timestamp_column
        self.target = target
        self.horizon = horizon
        self.lags = lags
        self.windows = windows
        self.frequency = frequency

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any = None) -> ForecastFeatures:
        """Learn the target history of every series.

        Args:
            X: The history: the series columns, the timestamp and the target column.
                Target NaNs are allowed and mean "unknown".
            y: Used as the target only when ``X`` has no target column.

        Returns:
            This transformer, fitted.

        Raises:
            ValueError: If a parameter is invalid (``forecast.lags`` below the horizon...).
            DataError: If a column is missing, a timestamp is unparseable, or a series has
                two rows in one period.
        """
        self.lags_, self.windows_ = self._resolved_params()
        frame = _require_frame(X)
        keys, periods, values = self._history_of(frame, y)
        self._set_history([(keys, periods, values)])
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def with_history(self, frame: pd.DataFrame) -> ForecastFeatures:
        """A new fitted transformer whose history adds ``frame``'s to this one's.

        The new transformer has the same parameters; where both histories know a
        (series, period) value, ``frame``'s wins. Used to score an older model on newer
        data with the same up-to-date history as a newly trained one.

        Args:
            frame: Rows with the series columns, the timestamp and the target.

        Returns:
            A fitted clone; this transformer is left unchanged.
        """
        check_is_fitted(self, "values_")
        new = clone(self)
        new.lags_, new.windows_ = list(self.lags_), list(self.windows_)
        keys, periods, values = new._history_of(_require_frame(frame), None)
        known = ~np.isnan(values)
        rows, cols = np.nonzero(~np.isnan(self.values_))
        old = (
            self.series_keys_[rows],
            cols.astype(np.int64) + self.start_,
            self.values_[rows, cols],
        )
        new._set_history([old, (keys[known], periods[known], values[known])])
        new.feature_names_in_ = self.feature_names_in_.copy()
        new.n_features_in_ = self.n_features_in_
        return new

    # -- transforming ----------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``X`` as model features, in ``X``'s order and with its index.

        Args:
            X: The series columns and the timestamp (other columns pass through; a target
                column is dropped and never read).

        Returns:
            ``X`` without the timestamp and target columns, plus ``lag_{k}``,
            ``rolling_mean_{w}`` and the calendar columns (see :meth:`get_feature_names_out`).
        """
        check_is_fitted(self, "values_")
        frame = _require_frame(X)
        self._require_columns(frame, [*self.series_columns, self.timestamp_column])
        series = self._series_index(frame)
        stamps = _timestamps(frame, self.timestamp_column)
        position = _periods(stamps, self._period_frequency()) - self.start_
        new = {
            **self._lag_features(series, position),
            **self._rolling_features(series, position),
            **self._calendar_features(stamps),
        }
        keep = [c for c in frame.columns if c not in (self.timestamp_column, self.target)]
        clash = [c for c in new if c in keep]
        if clash:
            raise DataError(
                f"Input column {clash[0]!r} has the name of a generated forecast feature; "
                "rename or drop it before forecasting."
            )
        added = pd.DataFrame(new, index=frame.index, copy=False)
        return pd.concat([frame[keep], added], axis=1)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """The output column names for input columns ``input_features``.

        Args:
            input_features: The columns given to ``transform``; default the columns seen
                in ``fit``.

        Returns:
            The input columns minus the timestamp and target, then the lag, rolling-mean
            and calendar columns.
        """
        check_is_fitted(self, "values_")
        columns = self.feature_names_in_ if input_features is None else input_features
        names = [str(c) for c in columns if c not in (self.timestamp_column, self.target)]
        names += [f"lag_{k}" for k in self.lags_]
        names += [f"rolling_mean_{w}" for w in self.windows_]
        names += list(self._calendar_names())
        return np.asarray(names, dtype=object)

    # -- features --------------------------------------------------------------------

    def _lag_features(self, series: np.ndarray, position: np.ndarray) -> dict[str, np.ndarray]:
        n_periods = self.values_.shape[1]
        features = {}
        for lag in self.lags_:
            source = position - lag
            known = (series >= 0) & (source >= 0) & (source < n_periods)
            column = np.full(len(series), np.nan)
            column[known] = self.values_[series[known], source[known]]
            features[f"lag_{lag}"] = column
        return features

    def _rolling_features(self, series: np.ndarray, position: np.ndarray) -> dict[str, np.ndarray]:
        if not self.windows_:
            return {}
        n_periods = self.values_.shape[1]
        seen = series >= 0
        # Cumulative sums (and counts of known values) of only the series in X: one row of
        # a request costs one series, a full batch all of them. Column j holds periods < j.
        used, row_of = np.unique(series[seen], return_inverse=True)
        history = self.values_[used]
        known = ~np.isnan(history)
        sums = np.zeros((len(used), n_periods + 1))
        np.cumsum(np.where(known, history, 0.0), axis=1, out=sums[:, 1:])
        counts = np.zeros((len(used), n_periods + 1), dtype=np.int64)
        np.cumsum(known, axis=1, out=counts[:, 1:])
        rows = row_of.reshape(-1)
        end = np.clip(position[seen] - self.horizon + 1, 0, n_periods)  # exclusive
        features = {}
        for window in self.windows_:
            begin = np.clip(position[seen] - self.horizon - window + 1, 0, n_periods)
            total = sums[rows, end] - sums[rows, begin]
            count = counts[rows, end] - counts[rows, begin]
            column = np.full(len(series), np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                column[seen] = np.where(count > 0, total / count, np.nan)
            features[f"rolling_mean_{window}"] = column
        return features

    def _calendar_features(self, stamps: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        names = self._calendar_names()
        features: dict[str, np.ndarray] = {}
        if "dayofweek" in names:
            features["dayofweek"] = np.asarray(stamps.dayofweek, dtype=np.int64)
        features["month"] = np.asarray(stamps.month, dtype=np.int64)
        if "dayofyear" in names:
            features["dayofyear"] = np.asarray(stamps.dayofyear, dtype=np.int64)
        if "weekofyear" in names:
            week = stamps.isocalendar()["week"]
            features["weekofyear"] = np.asarray(week, dtype=np.int64)
        if "is_weekend" in names:
            features["is_weekend"] = (np.asarray(stamps.dayofweek) >= 5).astype(np.int64)
        return {name: features[name] for name in names}

    def _calendar_names(self) -> tuple[str, ...]:
        period = self._period_frequency()
        if period == "D":
            return _DAILY_CALENDAR
        if period.startswith("W"):
            return _WEEKLY_CALENDAR
        return _MONTHLY_CALENDAR

    # -- history ---------------------------------------------------------------------

    def _history_of(self, frame: pd.DataFrame, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series key, period, target) of every row of a history frame, validated."""
        use_y = self.target not in frame.columns and y is not None
        required = [*self.series_columns, self.timestamp_column]
        self._require_columns(frame, required if use_y else [*required, self.target])
        if len(frame) == 0:
            raise DataError(
                "The forecasting history has no rows; give at least one row per series."
            )
        distinct, codes, missing = _series_keys(frame, self.series_columns)
        keys = distinct[codes]
        if missing.any():
            column = next(c for c in self.series_columns if frame[c].isna().any())
            raise DataError(
                f"Series column {column!r} has {int(frame[column].isna().sum())} missing "
                "values; fill them or drop those rows."
            )
        periods = _periods(_timestamps(frame, self.timestamp_column), self._period_frequency())
        if use_y:
            if len(y) != len(frame):
                raise DataError(
                    f"y has {len(y)} values for {len(frame)} rows; give the target as column "
                    f"{self.target!r} of X."
                )
            raw = pd.Series(np.asarray(y), index=frame.index, name=self.target)
        else:
            raw = frame[self.target]
        values = _numeric_target(raw, self.target)
        duplicated = pd.DataFrame({"key": keys, "period": periods}).duplicated(keep=False)
        if duplicated.any():
            self._raise_duplicates(frame, duplicated.to_numpy(), keys, periods)
        return keys, periods, values

    def _set_history(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Build ``series_keys_``, ``start_`` and ``values_``; later parts win."""
        all_keys = np.concatenate([keys for keys, _, _ in parts]).astype(str)
        all_periods = np.concatenate([periods for _, periods, _ in parts])
        series_keys, codes = np.unique(all_keys, return_inverse=True)
        codes = codes.reshape(-1)
        start = int(all_periods.min()) if len(all_periods) else 0
        n_periods = int(all_periods.max()) - start + 1 if len(all_periods) else 0
        if len(series_keys) * n_periods > MAX_HISTORY_CELLS:
            raise DataError(
                f"The history spans {n_periods} periods of frequency {self.frequency!r} for "
                f"{len(series_keys)} series, too many to hold; check column "
                f"{self.timestamp_column!r} for stray dates or use a coarser frequency."
            )
        values = np.full((len(series_keys), n_periods), np.nan)
        offset = 0
        for _, periods, part_values in parts:
            rows = codes[offset : offset + len(periods)]
            values[rows, periods - start] = part_values
            offset += len(periods)
        self.series_keys_ = series_keys
        self.start_ = start
        self.values_ = values

    def _series_index(self, frame: pd.DataFrame) -> np.ndarray:
        """The history row of each row's series; -1 for a series the history lacks."""
        keys, codes, missing = _series_keys(frame, self.series_columns)
        series = pd.Index(self.series_keys_).get_indexer(keys).astype(np.int64)[codes]
        series[missing] = -1
        return series

    def _raise_duplicates(
        self, frame: pd.DataFrame, duplicated: np.ndarray, keys: np.ndarray, periods: np.ndarray
    ) -> None:
        columns = [*self.series_columns, self.timestamp_column]
        pairs = pd.DataFrame({"key": keys[duplicated], "period": periods[duplicated]})
        rows = frame.loc[duplicated, columns].iloc[pairs.drop_duplicates().index[:3]]
        examples = "; ".join(
            ", ".join(f"{c}={_shown(row[c])}" for c in columns) for _, row in rows.iterrows()
        )
        series = ", ".join(map(repr, self.series_columns))
        raise DataError(
            f"{int(duplicated.sum())} rows share a series ({series}) and a period of "
            f"{self.timestamp_column!r} at frequency {self.frequency!r}, e.g. {examples}. "
            "Aggregate the data to one row per series and period (for example sum "
            f"{self.target!r} per series and period)."
        )

    # -- parameters ------------------------------------------------------------------

    def _resolved_params(self) -> tuple[list[int], list[int]]:
        horizon = self.horizon
        if not _is_int(horizon) or horizon < 1:
            raise ValueError(f"forecast.horizon must be a positive integer, got {horizon!r}.")
        self._period_frequency()
        if isinstance(self.series_columns, str) or not list(self.series_columns):
            raise ValueError(
                "forecast.series_columns must be a non-empty list of column names, got "
                f"{self.series_columns!r}."
            )
        lags = [horizon, 2 * horizon, 4 * horizon] if self.lags is None else list(self.lags)
        if not all(_is_int(k) for k in lags):
            raise ValueError(f"forecast.lags must be integers, got {self.lags!r}.")
        short = [k for k in lags if k < horizon]
        if short:
            raise ValueError(
                f"forecast.lags {short} are shorter than the horizon ({horizon}): lags must be "
                "at least the horizon, so that the model never sees a value it would not know "
                f"{horizon} periods ahead. Drop them or raise them to {horizon} or more."
            )
        windows = [7, 28] if self.windows is None else list(self.windows)
        if not all(_is_int(w) and w >= 1 for w in windows):
            raise ValueError(f"forecast.windows must be positive integers, got {self.windows!r}.")
        return sorted({int(k) for k in lags}), sorted({int(w) for w in windows})

    def _period_frequency(self) -> str:
        """The pandas Period frequency for ``frequency``."""
        name = str(self.frequency).strip().upper()
        if name == "D":
            return "D"
        if name == "W" or name.startswith("W-"):
            return name
        if name in ("M", "MS", "ME"):
            return "M"
        raise ValueError(
            f"forecast.frequency {self.frequency!r} is not supported; use 'D' (daily), "
            "'W' (weekly) or 'MS' (monthly)."
        )

    def _require_columns(self, frame: pd.DataFrame, columns: list[str]) -> None:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataError(
                f"Forecasting needs column {absent[0]!r}, which the data lacks; add it or "
                f"fix the forecast settings (series_columns={list(self.series_columns)!r}, "
                f"timestamp_column={self.timestamp_column!r}, target={self.target!r})."
            )


def refresh_history(estimator: Any, frame: pd.DataFrame) -> Any:
    """``estimator`` with its forecasting history extended by ``frame``.

    Args:
        estimator: Any fitted estimator; only a :class:`~sklearn.pipeline.Pipeline` whose
            first step is a :class:`ForecastFeatures` is changed.
        frame: Rows with the series columns, the timestamp and the target.

    Returns:
        For such a pipeline, a shallow copy whose first step is
        ``step.with_history(frame)`` (the other steps are the same objects); otherwise
        ``estimator`` itself.
    """
    if not isinstance(estimator, Pipeline) or not estimator.steps:
        return estimator
    name, first = estimator.steps[0]
    if not isinstance(first, ForecastFeatures):
        return estimator
    refreshed = copy.copy(estimator)
    refreshed.steps = [(name, first.with_history(frame)), *estimator.steps[1:]]
    return refreshed


# -- helpers -------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _require_frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise DataError(
            f"Forecast features need a pandas DataFrame with named columns, got {type(X).__name__}."
        )
    return X


def _series_keys(
    frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct series keys, each row's index into them, and a mask of rows missing one.

    A key is the row's series values as strings, joined with ``KEY_SEPARATOR``.

    Whole numbers are written without a decimal point, so that ``3``, ``3.0`` and ``"3"``
    name the same series (JSON requests do not keep integer and float apart). Strings are
    built for the distinct series only, then spread to the rows.
    """
    missing = np.zeros(len(frame), dtype=bool)
    codes = np.zeros(len(frame), dtype=np.int64)
    keys = np.asarray([""], dtype=str)
    for position, column in enumerate(columns):
        column_codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        missing |= column_codes < 0
        text = np.append(_key_text(pd.Series(uniques)), "")  # index -1: missing
        radix = len(uniques) + 1
        codes, combined = pd.factorize(codes * radix + column_codes + 1)
        left, right = np.divmod(np.asarray(combined, dtype=np.int64), radix)
        parts = text[right - 1]
        keys = (
            parts if position == 0 else np.char.add(np.char.add(keys[left], KEY_SEPARATOR), parts)
        )
    return keys, codes, missing


def _key_text(values: pd.Series) -> np.ndarray:
    if is_numeric_dtype(values) and not is_bool_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(numbers) & (np.abs(numbers) < 2**53)
        whole &= numbers == np.floor(np.where(whole, numbers, 0.0))
        integers = np.where(whole, numbers, 0.0).astype(np.int64).astype(str)
        return np.where(whole, integers, numbers.astype(str))
    return values.astype(str).to_numpy(dtype=str)


def _shown(value: object) -> str:
    """A value for a message; midnight timestamps as plain dates."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return str(value.date())
    return str(value)


def _timestamps(frame: pd.DataFrame, column: str) -> pd.DatetimeIndex:
    raw = frame[column]
    try:
        parsed = pd.to_datetime(raw, errors="coerce")
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"Timestamp column {column!r} cannot be read as dates ({exc}); write it as ISO "
            "dates (2024-01-31) with one time zone."
        ) from exc
    bad = parsed.isna().to_numpy()
    if bad.any():
        absent = raw.isna().to_numpy()
        if (bad & ~absent).any():
            example = raw[bad & ~absent].iloc[0]
            raise DataError(
                f"Timestamp column {column!r} has {int((bad & ~absent).sum())} values that are "
                f"not dates, e.g. {example!r}; write them as ISO dates (2024-01-31)."
            )
        raise DataError(
            f"Timestamp column {column!r} has {int(absent.sum())} missing values; fill them "
            "or drop those rows."
        )
    stamps = pd.DatetimeIndex(parsed)
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    return stamps


def _periods(stamps: pd.DatetimeIndex, frequency: str) -> np.ndarray:
    """Integer period numbers (pandas Period ordinals) of the timestamps."""
    return np.asarray(stamps.to_period(frequency).asi8, dtype=np.int64)


def _numeric_target(raw: pd.Series, column: str) -> np.ndarray:
    if is_bool_dtype(raw) or is_numeric_dtype(raw):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    try:
        return pd.to_numeric(raw, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"Target column {column!r} must be numeric ({exc}); convert it to numbers."
        ) from exc
