"""Encoding shared by the backends: JSON values, microsecond times, the frames reads return."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pandas as pd

from headway.predictions.base import FEEDBACK_COLUMNS, PREDICTION_COLUMNS

__all__ = [
    "dumps",
    "feedback_frame",
    "finish_predictions",
    "from_us",
    "latest_labels",
    "prediction_frame",
    "to_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_TIME_DTYPE = "datetime64[us, UTC]"


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, no float rounding)."""
    return (value - _EPOCH) // _ONE_US


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def day_of(us: int) -> str:
    """``YYYY-MM-DD`` (UTC) of a time in microseconds: its Parquet partition."""
    return from_us(us).date().isoformat()


def _default(value: Any) -> Any:
    # numpy scalars (int64, float32, bool_), pandas Timestamps and the like.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON (NaN and infinities become null).

    Raises:
        TypeError: a value that has no JSON form.
    """
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(str(exc)) from exc


def _times(values: Sequence[int | None]) -> pd.Series:
    series = pd.Series(values, dtype="Int64")
    return pd.to_datetime(series, unit="us", utc=True).astype(_TIME_DTYPE)


def prediction_frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The frame of :data:`PREDICTION_COLUMNS` from columns of plain values (``timestamp``
    in microseconds since the epoch, ``inputs`` and ``outputs`` as dicts)."""
    data: dict[str, Any] = {}
    for name in PREDICTION_COLUMNS:
        values = list(columns.get(name, []))
        if name == "timestamp":
            data[name] = _times(values)
        elif name == "latency_ms":
            data[name] = pd.Series(values, dtype="float64")
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def finish_predictions(frames: Sequence[pd.DataFrame], *, limit: int | None) -> pd.DataFrame:
    """``frames`` (the first ones preferred for an id found twice) as one frame: each id
    once, oldest first, the newest ``limit`` only."""
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.drop_duplicates("prediction_id", keep="first")
    frame = frame.sort_values(["timestamp", "prediction_id"], kind="stable")
    if limit is not None:
        frame = frame.tail(limit)
    return frame.reset_index(drop=True)


def feedback_frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The frame of :data:`FEEDBACK_COLUMNS` (times in microseconds, ``None`` for none)."""
    data: dict[str, Any] = {}
    for name in FEEDBACK_COLUMNS:
        values = list(columns.get(name, []))
        if name in ("observed_at", "received_at"):
            data[name] = _times(values)
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def latest_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per prediction id: the label with the latest observation time (arrival
    time where none was given), the last to arrive among equal times; ``frame`` is in
    arrival order."""
    when = frame["observed_at"].fillna(frame["received_at"])
    order = (
        pd.DataFrame({"when": when, "received": frame["received_at"]})
        .sort_values(["when", "received"], kind="stable")
        .index
    )
    latest = frame.loc[order].drop_duplicates("prediction_id", keep="last")
    return latest.reset_index(drop=True)


def clean_label(value: Any) -> Any:
    """A label as stored: JSON's view of it (NaN becomes ``None``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return orjson.loads(dumps(value))
