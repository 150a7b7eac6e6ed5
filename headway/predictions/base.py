"""The prediction log's records and its abstract interface, with the helpers written once.

A backend implements the primitives (:meth:`BasePredictionLog.append`, ``read``, ``get``
and two feedback primitives); labels (:meth:`~BasePredictionLog.add_feedback`), the
latest label per prediction (:meth:`~BasePredictionLog.feedback`) and the join of both
(:meth:`~BasePredictionLog.joined`) are built here on top of them, so every backend
answers them the same way.

Times are UTC everywhere: a record's timestamp must be timezone-aware and is kept in UTC,
and every time column of a returned frame is ``datetime64[us, UTC]``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FEEDBACK_COLUMNS",
    "JOINED_COLUMNS",
    "PREDICTION_COLUMNS",
    "ROUTES",
    "SHADOW_SUFFIX",
    "BasePredictionLog",
    "Feedback",
    "FeedbackResult",
    "PredictionLog",
    "PredictionRecord",
    "expand_columns",
    "new_ids",
]

ROUTES = frozenset({"champion", "canary", "shadow", "batch"})
# A shadow row is logged under the id of the champion row it shadows plus this suffix, so
# that the label sent for the champion's answer also scores the shadow's.
SHADOW_SUFFIX = "-shadow"
PREDICTION_COLUMNS = (
    "prediction_id",
    "timestamp",
    "model_name",
    "model_version",
    "route",
    "latency_ms",
    "inputs",
    "outputs",
)
FEEDBACK_COLUMNS = ("prediction_id", "label", "observed_at", "received_at")
JOINED_COLUMNS = (*PREDICTION_COLUMNS, "label", "observed_at")


def new_ids(n: int) -> list[str]:
    """``n`` random prediction ids (128 bits each, written as 32 hex digits) from one read
    of the operating system's random source."""
    digits = os.urandom(16 * n).hex()
    return [digits[i : i + 32] for i in range(0, 32 * n, 32)]


def as_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} has no time zone: give an aware datetime, "
            "e.g. datetime.now(UTC)"
        )
    return value.astimezone(UTC)


@dataclass(frozen=True)
class PredictionRecord:
    """One answered prediction: one input row, its outputs, which model answered and how fast.

    Attributes:
        prediction_id: unique id, returned to the caller; feedback refers to it.
        timestamp: when the prediction was made (timezone-aware; kept in UTC).
        model_name: registered model name.
        model_version: registered model version.
        route: ``champion``, ``canary`` or ``shadow`` (served), or ``batch``
            (``headway predict``).
        inputs: the row's input columns (JSON-able values; NaN is kept as null).
        outputs: what the model answered, e.g. ``{"prediction": 1, "probability": 0.83}``.
        latency_ms: time spent answering, in milliseconds.
    """

    prediction_id: str
    timestamp: datetime
    model_name: str
    model_version: str
    route: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    latency_ms: float

    def __post_init__(self) -> None:
        if not self.prediction_id:
            raise ValueError("prediction_id must be a non-empty string")
        if self.route not in ROUTES:
            raise ValueError(
                f"route {self.route!r} of prediction {self.prediction_id!r} is not one of "
                f"{sorted(ROUTES)}"
            )
        stamp = as_utc(self.timestamp, f"timestamp of prediction {self.prediction_id!r}")
        object.__setattr__(self, "timestamp", stamp)


@dataclass(frozen=True)
class Feedback:
    """The observed label of a logged prediction, which may arrive long after it.

    Attributes:
        prediction_id: the id the prediction was logged under.
        label: the true value (a JSON scalar: number, string, boolean).
        observed_at: when the label became true or known (timezone-aware); ``None``: when
            it reaches the log.
    """

    prediction_id: str
    label: Any
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.prediction_id:
            raise ValueError("prediction_id of a label must be a non-empty string")
        if isinstance(self.label, dict | list | tuple | set):
            raise TypeError(
                f"label of prediction {self.prediction_id!r} must be a JSON scalar "
                f"(number, string, boolean), got {type(self.label).__name__}"
            )
        if self.observed_at is not None:
            when = as_utc(self.observed_at, f"observed_at of prediction {self.prediction_id!r}")
            object.__setattr__(self, "observed_at", when)


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`BasePredictionLog.add_feedback` did.

    Attributes:
        accepted: labels stored.
        unknown_ids: ids (each once, in the order given) that the log has never seen; their
            labels were not stored.
    """

    accepted: int
    unknown_ids: list[str] = field(default_factory=list)


class BasePredictionLog(ABC):
    """A durable, append-only log of predictions and of the labels that arrive later.

    Backends: :class:`~headway.predictions.EmbeddedPredictionLog` (segment files and
    Parquet under a folder), :class:`~headway.predictions.SqlPredictionLog` (PostgreSQL,
    or SQLite) and :class:`~headway.predictions.S3PredictionLog` (Parquet objects on S3,
    spooled locally first); :func:`~headway.predictions.open_prediction_log` picks one by
    URL. A log is a context manager that closes itself.

    Reads take a half-open window ``start <= timestamp < end`` (either end may be
    ``None``, datetimes must be timezone-aware) and return one row per prediction id,
    oldest first, with the columns of :data:`PREDICTION_COLUMNS`; ``inputs`` and
    ``outputs`` are dicts (:func:`expand_columns` spreads them into columns). An id
    appended twice is read once.
    """

    # -- primitives each backend implements --------------------------------------------

    @abstractmethod
    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Write ``records``; they are durable when this returns (as far as the log's
        ``fsync`` setting promises; see the backend). Many records per call are cheaper
        than one call each.

        Raises:
            TypeError: a record's inputs or outputs are not JSON-able (nothing is written).
        """

    @abstractmethod
    def read(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        model_name: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Predictions with ``start <= timestamp < end``, oldest first.

        Args:
            start: first time included; ``None``: from the beginning.
            end: first time excluded; ``None``: up to now.
            model_name: only this model's predictions.
            limit: only the newest ``limit`` of them (still oldest first).
        """

    @abstractmethod
    def get(self, ids: Sequence[str]) -> pd.DataFrame:
        """The logged predictions among ``ids`` (ids never logged are absent), oldest first."""

    @abstractmethod
    def _write_feedback(self, rows: Sequence[Feedback], received_at: datetime) -> None:
        """Store labels of known predictions, durably, in the order given."""

    @abstractmethod
    def _read_feedback(self) -> pd.DataFrame:
        """Every stored label (columns :data:`FEEDBACK_COLUMNS`), in arrival order."""

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that were logged (backends may answer faster than :meth:`get`)."""
        return set(self.get(ids)["prediction_id"])

    # -- written once on top of them -----------------------------------------------------

    def add_feedback(self, items: Sequence[Feedback]) -> FeedbackResult:
        """Store the labels of logged predictions; report the ids the log has never seen.

        A prediction may get several labels (a correction, a label that changed): all are
        kept, and the *latest* one counts, that is the one with the latest ``observed_at``
        (a label without ``observed_at`` counts as observed when it arrived), and among
        equal times the one that arrived last.

        Returns:
            how many labels were stored, and the unknown ids (whose labels were not stored).
        """
        items = list(items)
        if not items:
            return FeedbackResult(accepted=0)
        wanted = list(dict.fromkeys(item.prediction_id for item in items))
        known = self._known_ids(wanted)
        accepted = [item for item in items if item.prediction_id in known]
        if accepted:
            self._write_feedback(accepted, datetime.now(UTC))
        unknown = [pid for pid in wanted if pid not in known]
        return FeedbackResult(accepted=len(accepted), unknown_ids=unknown)

    def feedback(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """The latest label of each prediction (see :meth:`add_feedback`), with
        ``start <= observed_at < end`` (``observed_at`` defaulting to when it arrived).

        Columns: ``prediction_id``, ``label``, ``observed_at`` (``NaT`` when not given),
        ``received_at``; ordered by observation time.
        """
        from headway.predictions._frames import latest_labels

        latest = latest_labels(self._read_feedback())
        when = latest["observed_at"].fillna(latest["received_at"])
        keep = _window_mask(when, start, end)
        order = when[keep].sort_values(kind="stable").index
        return latest.loc[order].reset_index(drop=True)

    def joined(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """The predictions of :meth:`read` (``start <= timestamp < end``) with their latest
        label: columns :data:`JOINED_COLUMNS`; ``label`` and ``observed_at`` are missing
        (``NaN``/``NaT``) where no label arrived yet."""
        from headway.predictions._frames import latest_labels

        predictions = self.read(start, end)
        labels = latest_labels(self._read_feedback())[["prediction_id", "label", "observed_at"]]
        return predictions.merge(labels, how="left", on="prediction_id", validate="one_to_one")

    def compact(self) -> None:  # noqa: B027 - a no-op where the backend has nothing to compact
        """Rewrite what was appended into the backend's long-term form (no-op by default).
        Never loses or duplicates a record; safe to call from several processes."""

    def close(self) -> None:  # noqa: B027 - a no-op where the backend holds nothing
        """Release files and connections; the log may not be used afterwards."""

    def __enter__(self) -> BasePredictionLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# The name the rest of headway uses for the interface.
PredictionLog = BasePredictionLog


def _window_mask(times: pd.Series, start: datetime | None, end: datetime | None) -> pd.Series:
    keep = times.notna()
    if start is not None:
        keep &= times >= as_utc(start, "start")
    if end is not None:
        keep &= times < as_utc(end, "end")
    return keep


def expand_columns(
    frame: pd.DataFrame, columns: Sequence[str] = ("inputs", "outputs"), *, sep: str = "."
) -> pd.DataFrame:
    """``frame`` with each dict column spread into one column per key.

    ``inputs`` holding ``{"age": 41}`` becomes a column ``inputs.age``; a key missing from
    a row gives a missing value.

    Example:
        >>> expand_columns(log.read(), ["inputs"])  # doctest: +SKIP
    """
    import pandas as pd

    parts: list[pd.DataFrame] = [frame.drop(columns=list(columns))]
    for column in columns:
        values = [v if isinstance(v, dict) else {} for v in frame[column]]
        spread = pd.DataFrame.from_records(values, index=frame.index)
        parts.append(spread.add_prefix(f"{column}{sep}"))
    return pd.concat(parts, axis=1)
