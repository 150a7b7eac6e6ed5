"""Group fairness of a model's holdout predictions, with fairlearn.

For one sensitive column (region, age band, ...) the report gives the demographic parity
difference (the largest gap in selection rate between two groups), for binary tasks the
equalized odds difference (the larger of the gaps in true and false positive rate), and
the per-group metrics behind them. What "selected" means depends on the task:

- binary: the positive-class probability is at or above the decision threshold;
- multiclass: the model predicts a given class (a selection rate per class; the parity
  difference is the largest over classes, equalized odds is not defined);
- regression and forecast: the prediction is above the median of all predictions.

Missing values of the sensitive column form a group of their own, ``"(missing)"``.
fairlearn is a dependency of headway; it is imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from headway.exceptions import ConfigError
from headway.tasks import NUMERIC_TASKS

__all__ = ["MISSING_GROUP", "FairnessReport", "check_sensitive_columns", "fairness_report"]

MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of a model's predictions across the groups of one sensitive column.

    Attributes:
        column: The sensitive column.
        demographic_parity_difference: The largest difference in selection rate between
            two groups (0 is parity); for multiclass the largest over predicted classes.
        equalized_odds_difference: Binary tasks: the larger of the largest differences in
            true positive rate and in false positive rate between two groups; ``None``
            for other tasks.
        by_group: Per group (in sorted order): ``n`` and ``selection_rate`` (multiclass:
            ``selection_rate[CLASS]`` per class, and ``accuracy``); binary tasks add
            ``true_positive_rate`` and ``false_positive_rate`` (when the group has both
            labels to rate), ``accuracy`` and ``roc_auc`` (when the group has both
            labels); regression adds ``mean_prediction`` and ``mae``.
    """

    column: str
    demographic_parity_difference: float
    equalized_odds_difference: float | None
    by_group: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return asdict(self)


def _fairlearn_metrics() -> Any:
    try:
        return importlib.import_module("fairlearn.metrics")
    except ImportError as exc:
        raise ConfigError("fairness reports need fairlearn: pip install 'fairlearn>=0.13'") from exc


def _groups(frame: pd.DataFrame, column: str) -> pd.Series:
    """The sensitive column as strings, missing values as their own group."""
    values = frame[column]
    groups = values.astype(str).to_numpy(dtype=object)
    groups[values.isna().to_numpy()] = MISSING_GROUP
    return pd.Series(groups, name=column)


def _guarded(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    """A metric that gives NaN where it is undefined for a group (one label only)."""

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if len(np.unique(y_true)) < 2:
            return float("nan")
        return float(fn(np.asarray(y_true), np.asarray(y_pred)))

    return metric


def _rate(y_true: np.ndarray, y_pred: np.ndarray, label: int) -> float:
    """Share of the rows with true label ``label`` that are predicted positive."""
    mask = np.asarray(y_true) == label
    return float(np.mean(np.asarray(y_pred)[mask])) if mask.any() else float("nan")


def _count(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(len(y_true))


def _by_group(frames: Iterable[pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Per-group metric tables merged into ``{group: {metric: value}}``, NaNs left out."""
    out: dict[str, dict[str, float]] = {}
    for table in frames:
        for group, row in table.iterrows():
            values = out.setdefault(str(group), {})
            values.update({str(k): float(v) for k, v in row.items() if pd.notna(v)})
    return dict(sorted(out.items()))


def fairness_report(
    task: str,
    frame: pd.DataFrame,
    y_true: np.ndarray | pd.Series,
    scores: np.ndarray,
    *,
    column: str,
    classes: np.ndarray | list[Any] | tuple[Any, ...] | None = None,
    threshold: float | None = None,
) -> FairnessReport:
    """Fairness of ``scores`` across the groups of ``frame[column]``.

    Args:
        task: ``binary``, ``multiclass``, ``regression`` or ``forecast``.
        frame: The rows scored, holding ``column`` (in the order of ``y_true``).
        y_true: The true labels or values.
        scores: As :func:`headway.evaluation.predict_scores` returns them: class
            probabilities (``n x k``; a binary task also takes the positive-class
            probability alone) or predicted values.
        column: The sensitive column.
        classes: The class labels in the order of the score columns; default the sorted
            labels of ``y_true``. ``classes[1]`` is the positive class of a binary task.
        threshold: Binary: the decision threshold on the positive-class probability;
            default 0.5.

    Returns:
        The report; see :class:`FairnessReport`.

    Raises:
        ConfigError: ``column`` is not in ``frame`` (see :func:`check_sensitive_columns`),
            or fairlearn is not installed.
        ValueError: ``frame``, ``y_true`` and ``scores`` differ in length, a binary task
            has other than 2 classes, or ``task`` is unknown.
    """
    check_sensitive_columns(frame.columns, [column])
    fm = _fairlearn_metrics()
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    if not len(frame) == len(y) == len(s):
        raise ValueError(
            f"fairness_report: {len(frame)} rows, {len(y)} labels and {len(s)} scores; "
            "they must be the same rows"
        )
    groups = _groups(frame, column)
    if task in NUMERIC_TASKS:
        return _regression(fm, column, groups, y.astype(float), s)
    labels = np.asarray(classes) if classes is not None else np.unique(y)
    if task == "binary":
        return _binary(fm, column, groups, y, s, labels, 0.5 if threshold is None else threshold)
    if task == "multiclass":
        return _multiclass(fm, column, groups, y, s, labels)
    raise ValueError(f"fairness_report: unknown task {task!r}")


def _binary(
    fm: Any,
    column: str,
    groups: pd.Series,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray,
    threshold: float,
) -> FairnessReport:
    if len(classes) != 2:
        raise ValueError(f"fairness_report: a binary task needs 2 classes, got {len(classes)}")
    positive = s[:, 1] if s.ndim == 2 else s
    y_pos = (y == classes[1]).astype(int)
    y_pred = (positive >= threshold).astype(int)
    labels = fm.MetricFrame(
        metrics={
            "n": _count,
            "selection_rate": fm.selection_rate,
            "true_positive_rate": lambda t, p: _rate(t, p, 1),
            "false_positive_rate": lambda t, p: _rate(t, p, 0),
            "accuracy": skm.accuracy_score,
        },
        y_true=y_pos,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    ranking = fm.MetricFrame(
        metrics={"roc_auc": _guarded(skm.roc_auc_score)},
        y_true=y_pos,
        y_pred=positive,
        sensitive_features=groups,
    )
    return FairnessReport(
        column=column,
        demographic_parity_difference=float(
            fm.demographic_parity_difference(y_pos, y_pred, sensitive_features=groups)
        ),
        equalized_odds_difference=float(
            fm.equalized_odds_difference(y_pos, y_pred, sensitive_features=groups)
        ),
        by_group=_by_group([labels.by_group, ranking.by_group]),
    )


def _multiclass(
    fm: Any,
    column: str,
    groups: pd.Series,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray,
) -> FairnessReport:
    predicted = classes[np.argmax(s, axis=1)]
    tables = [
        fm.MetricFrame(
            metrics={"n": _count, "accuracy": skm.accuracy_score},
            y_true=y,
            y_pred=predicted,
            sensitive_features=groups,
        ).by_group
    ]
    gaps = []
    for label in classes:
        chosen = (predicted == label).astype(int)
        rates = fm.MetricFrame(
            metrics={f"selection_rate[{label}]": fm.selection_rate},
            y_true=(y == label).astype(int),
            y_pred=chosen,
            sensitive_features=groups,
        )
        tables.append(rates.by_group)
        gaps.append(float(rates.difference(method="between_groups").iloc[0]))
    return FairnessReport(
        column=column,
        demographic_parity_difference=max(gaps),
        equalized_odds_difference=None,
        by_group=_by_group(tables),
    )


def _regression(
    fm: Any, column: str, groups: pd.Series, y: np.ndarray, s: np.ndarray
) -> FairnessReport:
    above = (s > np.median(s)).astype(int)
    # selection_rate only reads the predictions; y_true is there for the signature.
    selected = fm.MetricFrame(
        metrics={"n": _count, "selection_rate": fm.selection_rate},
        y_true=y,
        y_pred=above,
        sensitive_features=groups,
    )
    values = fm.MetricFrame(
        metrics={
            "mean_prediction": lambda t, p: float(np.mean(p)),
            "mae": skm.mean_absolute_error,
        },
        y_true=y,
        y_pred=s,
        sensitive_features=groups,
    )
    return FairnessReport(
        column=column,
        demographic_parity_difference=float(
            fm.demographic_parity_difference(y, above, sensitive_features=groups)
        ),
        equalized_odds_difference=None,
        by_group=_by_group([selected.by_group, values.by_group]),
    )


def check_sensitive_columns(frame_columns: Iterable[Any], columns: Iterable[str]) -> None:
    """Check that every sensitive column is a column of the data.

    Args:
        frame_columns: The columns of the data.
        columns: The sensitive columns (``evaluation.sensitive_columns``).

    Raises:
        ConfigError: naming each unknown column, with the closest column as a suggestion
            and the fix (edit ``evaluation.sensitive_columns`` in headway.yaml).
    """
    known = [str(c) for c in frame_columns]
    problems = []
    for column in columns:
        if column in known:
            continue
        close = difflib.get_close_matches(column, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"{column!r} is not a column of the data{hint}")
    if problems:
        raise ConfigError(
            f"evaluation.sensitive_columns: {'; '.join(problems)}. The columns are "
            f"{sorted(known)}; edit evaluation.sensitive_columns in headway.yaml"
        )
