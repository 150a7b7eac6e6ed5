"""Evaluate a trained model on the held-out test rows: metrics with intervals, calibration,
slices, business value, fairness and SHAP importance, and the figures that show them."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from headway.artifacts import EvaluationReport, TrainedModel
from headway.config import EvaluationConfig
from headway.evaluation.calibration import (
    bootstrap_intervals,
    calibration_curve_data,
    expected_calibration_error,
)
from headway.evaluation.cost import business_value, expected_value_curve
from headway.evaluation.metrics import compute_metrics, predict_scores, score
from headway.evaluation.slices import evaluate_slices, slice_columns
from headway.features.contract import feature_frame
from headway.tasks import HIGHER_IS_BETTER, NUMERIC_TASKS

__all__ = ["evaluate", "evaluation_figures", "latency_p95_ms", "model_size_mb"]

logger = logging.getLogger(__name__)


def evaluate(
    model: TrainedModel,
    test: pd.DataFrame,
    *,
    target: str,
    task: str,
    metric: str,
    seed: int = 0,
    config: EvaluationConfig | None = None,
) -> tuple[EvaluationReport, np.ndarray]:
    """Score ``model`` on the held-out ``test`` table.

    Args:
        test: the test rows, with the target, the model's input columns, and the slice and
            sensitive columns of ``config`` (which need not be features).
        config: what to report beside the metrics; the defaults when omitted.

    Returns:
        The report and the raw scores, so that a champion can be compared on the same rows.

    Raises:
        ConfigError: a configured slice or sensitive column is not in ``test``.
    """
    config = config or EvaluationConfig()
    if config.sensitive_columns:
        from headway.evaluation.fairness import check_sensitive_columns

        check_sensitive_columns(test.columns, config.sensitive_columns)
    y = test[target].to_numpy()
    rows = feature_frame(test, model)
    scores = predict_scores(model, rows, task)
    classes = np.asarray(model.classes) if model.classes is not None else None
    values = compute_metrics(task, y, scores, classes=classes, threshold=model.threshold)
    if metric not in values:
        values[metric] = score(metric, y, scores, classes=classes, threshold=model.threshold)
    notes: list[str] = []
    intervals = (
        bootstrap_intervals(
            task,
            y,
            scores,
            sorted(values),
            classes=classes,
            threshold=model.threshold,
            seed=seed,
            n_boot=config.bootstrap,
        )
        if config.bootstrap
        else {}
    )
    positive = proba = None
    if task == "binary" and classes is not None:
        positive = (y == classes[1]).astype(int)
        proba = scores[:, 1]

    columns = slice_columns(
        test,
        list(model.categorical_columns) if config.auto_slices else [],
        list(config.slice_columns),
    )
    slices = evaluate_slices(
        task, test, y, scores, columns=columns, metric=metric, classes=classes,
        threshold=model.threshold,
    )  # fmt: skip

    value = None
    if config.business_values:
        if positive is None or proba is None:
            notes.append("evaluation.business_values apply to binary tasks only; skipped")
        else:
            threshold = model.threshold if model.threshold is not None else 0.5
            value = dataclasses.asdict(
                business_value(
                    positive,
                    (proba >= threshold).astype(int),
                    {str(k): v for k, v in config.business_values.items()},
                )
            )

    fairness = []
    for column in config.sensitive_columns:
        from headway.evaluation.fairness import fairness_report

        group_report = fairness_report(
            task,
            test,
            y,
            scores,
            column=column,
            classes=classes,
            threshold=model.threshold,
            min_group_size=config.min_group_size,
            missing=config.sensitive_missing,
            bins=config.sensitive_bins,
            n_boot=config.bootstrap,
            seed=seed,
        )
        fairness.append(group_report.to_dict())

    importance: dict[str, float] = {}
    if config.explain:
        if importlib.util.find_spec("shap") is None:
            notes.append("SHAP importance skipped: pip install 'headway[explain]'")
        else:
            from headway.evaluation.explain import global_importance

            try:
                importance = global_importance(model.estimator, rows, seed=seed)
            except ValueError as exc:  # a model shap cannot take apart
                notes.append(f"SHAP importance skipped: {exc}")

    behaviour: list[dict[str, Any]] = []
    if config.behaviour:
        from headway.evaluation.behaviour import behaviour_checks

        behaviour = [
            dataclasses.asdict(check)
            for check in behaviour_checks(
                model,
                test,
                task=task,
                invariant_columns=list(config.invariant_columns),
                monotonic=dict(config.monotonic),
                seed=seed,
            )
        ]

    report = EvaluationReport(
        behaviour=tuple(behaviour),
        latency_p95_ms=latency_p95_ms(model.estimator, rows, task),
        size_mb=model_size_mb(model.estimator),
        metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric],
        metrics=values,
        intervals=intervals,
        n_test=len(test),
        calibration_error=(
            expected_calibration_error(positive, proba)
            if positive is not None and proba is not None
            else None
        ),
        slices=tuple(dataclasses.asdict(s) for s in slices),
        business_value=value,
        fairness=tuple(fairness),
        importance=importance,
        notes=tuple(notes),
    )
    return report, scores


def latency_p95_ms(estimator: Any, rows: pd.DataFrame, task: str, n: int = 100) -> float | None:
    """p95 of the time one row takes through the model (after one warm-up call), in ms:
    the model's share of a serving request, without HTTP and parsing."""
    sample = rows.head(n + 1)
    if len(sample) < 2:
        return None
    predict = estimator.predict if task in NUMERIC_TASKS else estimator.predict_proba
    times = []
    for i in range(len(sample)):
        started = time.perf_counter()
        predict(sample.iloc[[i]])
        times.append(time.perf_counter() - started)
    return float(np.percentile(times[1:], 95) * 1000)


def model_size_mb(estimator: Any) -> float:
    """Size of the model as registered (skops serialization), in MB."""
    import skops.io

    return len(skops.io.dumps(estimator)) / 1e6


def evaluation_figures(
    report: EvaluationReport,
    y: np.ndarray,
    scores: np.ndarray,
    *,
    task: str,
    classes: tuple[Any, ...] | None,
    threshold: float | None,
    business_values: dict[str, float] | None = None,
) -> dict[str, Figure]:
    """The evaluation's pictures, by file name: feature importance, and per task a
    calibration curve and a confusion matrix (classification) or predicted against actual
    and residuals (regression, forecasting), and the expected value by threshold (binary,
    with business values)."""
    figures: dict[str, Figure] = {}
    if report.importance:
        from headway.evaluation.explain import importance_figure

        figures["importance.png"] = importance_figure(report.importance)
    if task in NUMERIC_TASKS:
        figures["residuals.png"] = _residual_figure(y, scores)
        return figures
    assert classes is not None
    labels = np.asarray(classes)
    if task == "binary" and threshold is not None:
        predicted = np.where(scores[:, 1] >= threshold, labels[1], labels[0])
    else:
        predicted = labels[np.argmax(scores, axis=1)]
    figures["confusion_matrix.png"] = _confusion_figure(y, predicted, labels)
    if task == "binary":
        positive = (y == labels[1]).astype(int)
        figures["calibration.png"] = _calibration_figure(
            positive, scores[:, 1], report.calibration_error
        )
        if business_values:
            cuts, per_1000 = expected_value_curve(positive, scores[:, 1], business_values)
            figures["business_value.png"] = _value_figure(cuts, per_1000, threshold)
    return figures


def _figure(width: float = 5.0, height: float = 4.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _residual_figure(y: np.ndarray, predicted: np.ndarray) -> Figure:
    fig = Figure(figsize=(9, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    y = np.asarray(y, dtype=float)
    low, high = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
    left.scatter(y, predicted, s=4, alpha=0.3)
    left.plot([low, high], [low, high], color="grey", linewidth=1)
    left.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    right.hist(predicted - y, bins=50)
    right.set(xlabel="predicted - actual", ylabel="rows", title="Residuals")
    return fig


def _confusion_figure(y: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> Figure:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, predicted, labels=labels)
    fig, ax = _figure(1.5 + 0.6 * len(labels), 1.2 + 0.6 * len(labels))
    ax.imshow(matrix, cmap="Blues")
    names = [str(label) for label in labels]
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix (test)",
    )
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, f"{count:,}", ha="center", va="center", color=color)
    return fig


def _calibration_figure(y_pos: np.ndarray, proba: np.ndarray, ece: float | None) -> Figure:
    data = calibration_curve_data(y_pos, proba)
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfect")
    ax.plot(data["mean_predicted"], data["observed"], marker="o", label="model")
    title = "Calibration (test)" + (f", ECE {ece:.3f}" if ece is not None else "")
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency", title=title)
    ax.legend(loc="upper left")
    return fig


def _value_figure(cuts: np.ndarray, per_1000: np.ndarray, threshold: float | None) -> Figure:
    fig, ax = _figure()
    ax.plot(cuts, per_1000)
    if threshold is not None:
        ax.axvline(threshold, color="grey", linestyle="--", label=f"threshold {threshold:.2f}")
        ax.legend()
    ax.set(xlabel="decision threshold", ylabel="value per 1000 predictions",
           title="Business value by threshold (test)")  # fmt: skip
    return fig
