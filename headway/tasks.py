"""Tasks and their metrics: which metric applies to which task, and which way is better.

The one table every stage reads (training scores trials with it, evaluation reports it,
gates compare with it, config validates against it); it imports nothing of headway.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DEFAULT_METRIC",
    "HIGHER_IS_BETTER",
    "NUMERIC_TASKS",
    "TASKS",
    "TASK_METRICS",
    "Task",
]

Task = Literal["binary", "multiclass", "regression", "forecast"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression", "forecast")
# Tasks whose model predicts a number (forecasting is regression on lag features).
NUMERIC_TASKS = ("regression", "forecast")


# Primary metric per task, and whether larger is better.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "f1"),
    "multiclass": ("accuracy", "f1_macro", "log_loss", "roc_auc"),
    "regression": ("rmse", "mae", "r2", "mape", "wape"),
    "forecast": ("wape", "mae", "rmse", "mape", "smape", "r2"),
}
DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "rmse",
    "forecast": "wape",
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "average_precision": True,
    "accuracy": True,
    "f1": True,
    "f1_macro": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
    "smape": False,
    "wape": False,
}
