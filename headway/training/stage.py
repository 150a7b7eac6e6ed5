"""The training stage of a project: its configuration and data in, a :class:`TrainedModel` out.

Shared by ``headway run`` and ``headway reproduce``, so that a reproduction fits exactly
what the run fitted. For the ``forecast`` task the lag, rolling and calendar features are
built from the whole ingested table (each row only sees values ``forecast.horizon`` periods
old or older, see :mod:`headway.features.forecast`) and a regression search runs behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from headway.artifacts import TrainedModel
from headway.config import ProjectConfig
from headway.data import feature_columns
from headway.data.split import Split
from headway.training.search import TrialRecord, train

__all__ = ["forecast_features", "train_model"]


def forecast_features(config: ProjectConfig, history: pd.DataFrame) -> Any:
    """The fitted feature builder of a ``forecast`` project over ``history``."""
    from headway.features.forecast import ForecastFeatures

    assert config.data.timestamp_column is not None
    fc = config.forecast
    return ForecastFeatures(
        series_columns=list(config.data.series_columns),
        timestamp_column=config.data.timestamp_column,
        target=config.data.target,
        horizon=fc.horizon,
        lags=fc.resolved_lags,
        windows=list(fc.windows),
        frequency=fc.frequency,
    ).fit(history)


def train_model(
    config: ProjectConfig,
    frame: pd.DataFrame,
    parts: Split,
    *,
    on_trial: Callable[[TrialRecord], None] | None = None,
    replay: dict[str, Any] | None = None,
    front: Any | None = None,
) -> TrainedModel:
    """Search (or, with ``replay``, refit a recorded winner) for ``config`` on ``parts``.

    ``front``: the forecasting features already fitted on ``frame`` (built here if omitted).

    Raises:
        TrainingError: see :func:`headway.training.train`.
        DataError: a forecasting table with more than one row per series and period.
    """
    features = feature_columns(frame, config.data)
    task, front = config.task, None
    if config.task == "forecast":
        assert config.data.timestamp_column is not None
        front = front if front is not None else forecast_features(config, frame)
        features = [*features, config.data.timestamp_column]
        task = "regression"
    return train(
        parts,
        target=config.data.target,
        features=features,
        task=task,
        metric=config.metric,
        config=config.training,
        seed=config.seed,
        on_trial=on_trial,
        group_column=config.data.group_column,
        replay=replay,
        front=front,
        monotonic=config.evaluation.monotonic,
    )
