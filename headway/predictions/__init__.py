"""The durable prediction log: every answered prediction, and the labels that arrive later.

:func:`open_prediction_log` picks the backend from ``predictions.url``: the embedded log
(segment files compacted to Parquet, read by DuckDB) by default, PostgreSQL by URL, or
Parquet objects on S3. Each backend's module says what a crash can lose.

Example:
    >>> from headway.predictions import open_prediction_log  # doctest: +SKIP
    >>> with open_prediction_log(None, project.predictions_dir) as log:  # doctest: +SKIP
    ...     log.append(records)
    ...     log.add_feedback([Feedback("p-1", label=1)])
    ...     frame = log.joined()
"""

from __future__ import annotations

from headway._lazy import lazy_exports
from headway.predictions._open import open_prediction_log
from headway.predictions.base import (
    FEEDBACK_COLUMNS,
    JOINED_COLUMNS,
    PREDICTION_COLUMNS,
    ROUTES,
    BasePredictionLog,
    Feedback,
    FeedbackResult,
    PredictionLog,
    PredictionRecord,
    expand_columns,
    new_ids,
)

__all__ = [
    "FEEDBACK_COLUMNS",
    "JOINED_COLUMNS",
    "PREDICTION_COLUMNS",
    "ROUTES",
    "BasePredictionLog",
    "EmbeddedPredictionLog",
    "Feedback",
    "FeedbackResult",
    "PredictionLog",
    "PredictionRecord",
    "S3PredictionLog",
    "SqlPredictionLog",
    "expand_columns",
    "new_ids",
    "open_prediction_log",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EmbeddedPredictionLog": ".local",
        "SqlPredictionLog": ".postgres",
        "S3PredictionLog": ".objectstore",
    },
)
