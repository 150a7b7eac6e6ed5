"""One window of the prediction log, tested: drift, performance, estimation, root cause.

:func:`evaluate_window` takes the window's logged predictions (with the labels that
arrived, :meth:`headway.predictions.BasePredictionLog.joined`) and the reference of the
version that answered most of them, and returns a :class:`WindowReport`: the artifact
``headway monitor`` prints, stores in the control plane and renders as a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from headway.config import MonitoringConfig
from headway.monitoring.attribution import attribution_drift
from headway.monitoring.drift import ColumnDrift, DriftSettings, dataset_drift, drift_columns
from headway.monitoring.estimation import estimate, fit_calibrator, reference_scores
from headway.monitoring.multivariate import fit_reconstruction
from headway.monitoring.performance import (
    as_scores,
    business_value_of,
    dropped,
    realised,
    slice_contributions,
)
from headway.monitoring.reference import LABEL, PREDICTION, Reference
from headway.tasks import NUMERIC_TASKS

__all__ = ["WindowReport", "drift_settings", "evaluate_window", "view_drift"]

# Routes whose rows are the production inputs: a shadow row repeats a champion row's inputs.
INPUT_ROUTES = ("champion", "canary", "batch")


@dataclass(frozen=True)
class WindowReport:
    """What one window of predictions showed.

    Attributes:
        model_name: the registered model.
        model_version: the version whose reference the window was tested against (the one
            that answered most of its rows).
        start, end: the window (``start <= timestamp < end``), UTC.
        rows: predictions in it (shadow rows excluded).
        status: ``ok``, ``too_few_rows`` (fewer than ``monitoring.min_rows``: not tested)
            or ``empty``.
        columns: the drift verdict of each input column.
        schema: input columns the reference has and the window lacks (``missing``), and
            the reverse (``unexpected``): schema drift, reported rather than tested.
        dataset_drift: the share of drifted columns against ``monitoring.drift_share``.
        prediction_drift: the model output's drift verdict.
        label_drift: the labels' drift verdict (when enough labels arrived).
        multivariate: the PCA reconstruction-error check.
        performance: ``realised`` (labels that arrived) and ``estimated`` (label-free,
            classifiers), ``by_version`` (realised, per version that answered), ``slices``
            (the slices that drag the realised metric most).
        business_value: ``realised`` and ``estimated`` value per 1000 predictions.
        features: drifted columns ranked by statistic over threshold times importance.
        feature_views: per feature view of the model's feature service, its features'
            drift verdicts summed up (:func:`view_drift`); empty without a service.
        attribution: attribution drift, mean |SHAP| per column on the window against the
            reference (:mod:`headway.monitoring.attribution`), when an explainer was given.
        alarms: what should page someone: ``drift:<column>``, ``dataset_drift``,
            ``prediction_drift``, ``multivariate``, ``performance``.
        notes: what was skipped and why.
    """

    model_name: str
    model_version: str
    start: datetime
    end: datetime
    rows: int
    status: str
    columns: list[ColumnDrift] = field(default_factory=list)
    schema: dict[str, list[str]] = field(default_factory=dict)
    dataset_drift: dict[str, Any] = field(default_factory=dict)
    prediction_drift: ColumnDrift | None = None
    label_drift: ColumnDrift | None = None
    multivariate: dict[str, Any] | None = None
    performance: dict[str, Any] = field(default_factory=dict)
    business_value: dict[str, Any] = field(default_factory=dict)
    features: list[dict[str, Any]] = field(default_factory=list)
    feature_views: list[dict[str, Any]] = field(default_factory=list)
    attribution: dict[str, Any] | None = None
    alarms: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "window": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "rows": self.rows,
            },
            "status": self.status,
            "columns": [c.to_dict() for c in self.columns],
            "drifted_columns": self.drifted_columns,
            "schema": self.schema,
            "dataset_drift": self.dataset_drift,
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "label_drift": self.label_drift.to_dict() if self.label_drift else None,
            "multivariate": self.multivariate,
            "performance": self.performance,
            "business_value": self.business_value,
            "features": self.features,
            "feature_views": self.feature_views,
            "attribution": self.attribution,
            "alarms": self.alarms,
            "notes": self.notes,
        }


def view_drift(
    columns: Sequence[ColumnDrift], views: Mapping[str, Sequence[str]], *, share: float
) -> list[dict[str, Any]]:
    """Drift per feature view, from the window's column verdicts (the same sketches and
    tests): for each view, its features tested in the window, those that drifted, their
    share, and ``drifted`` when that share reaches ``share`` (``monitoring.drift_share``).
    """
    verdicts = {c.column: c for c in columns}
    out = []
    for view, features in views.items():
        tested = [f for f in features if f in verdicts]
        drifted = [f for f in tested if verdicts[f].drifted]
        ratio = len(drifted) / len(tested) if tested else None
        out.append(
            {
                "view": view,
                "features": list(features),
                "tested": tested,
                "drifted_columns": drifted,
                "drift_share": ratio,
                "drifted": ratio is not None and ratio >= share,
            }
        )
    return out


def drift_settings(config: MonitoringConfig, *, seed: int = 0) -> DriftSettings:
    return DriftSettings(
        method=config.method,
        column_methods=dict(config.column_methods),
        thresholds={str(k): float(v) for k, v in config.thresholds.items()},
        threshold_source=config.threshold_source,
        alpha=config.alpha,
        seed=seed,
    )


def _labels(task: str, values: pd.Series) -> pd.Series:
    """Labels as the reference names them: text for classes (``1.0`` -> ``1``), numbers
    otherwise."""
    if task in NUMERIC_TASKS:
        return pd.to_numeric(values, errors="coerce")

    def name(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, bool):
            return str(int(v))
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return values.map(name)


def _outputs(reference: Reference, outputs: pd.Series) -> pd.Series:
    """The logged outputs as the reference's ``__prediction__`` column."""
    if reference.task == "binary":
        values = []
        for o in outputs:
            p = o.get("probability") if isinstance(o, dict) else None
            if isinstance(p, dict) and reference.classes:
                p = p.get(reference.classes[-1])
            values.append(np.nan if p is None else float(p))
        return pd.Series(values, name=PREDICTION, dtype=float)
    if reference.task == "multiclass":
        return pd.Series(
            [None if not isinstance(o, dict) else str(o.get("prediction")) for o in outputs],
            name=PREDICTION,
            dtype=object,
        )
    return pd.Series(
        [np.nan if not isinstance(o, dict) else o.get("prediction") for o in outputs],
        name=PREDICTION,
        dtype=float,
    )


def _inputs(rows: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    records = [v if isinstance(v, dict) else {} for v in rows["inputs"]]
    frame = pd.DataFrame.from_records(records, index=rows.index)
    for column in frame.columns:
        if frame[column].dtype == object:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            # A column of numbers logged as JSON numbers (with nulls) stays numeric.
            if numbers.notna().sum() == frame[column].notna().sum():
                frame[column] = numbers
    return frame.reset_index(drop=True)


def _ranked_features(
    columns: Sequence[ColumnDrift], importance: dict[str, float]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in columns:
        if not c.drifted:
            continue
        if c.p_value is not None:
            strength = float(-np.log10(max(c.p_value, 1e-300)) / -np.log10(c.threshold))
        else:
            strength = c.statistic / c.threshold if c.threshold > 0 else float("inf")
        weight = importance.get(c.column)
        out.append(
            {
                "column": c.column,
                "strength": strength,
                "importance": weight,
                "score": strength * (weight if weight is not None else 1.0),
            }
        )
    out.sort(key=lambda f: -float(f["score"]))
    return out


def evaluate_window(
    rows: pd.DataFrame,
    reference: Reference,
    *,
    model_name: str,
    model_version: str,
    start: datetime,
    end: datetime,
    config: MonitoringConfig,
    metric: str,
    slice_columns: Sequence[str] = (),
    business_values: dict[str, float] | None = None,
    explainer: Any | None = None,
    seed: int = 0,
) -> WindowReport:
    """Test one window of logged predictions against ``reference``.

    Args:
        rows: the window's rows of :meth:`~headway.predictions.BasePredictionLog.joined`
            (shadow rows are dropped here).
        reference: the reference of ``model_version``.
        model_name: the registered model.
        model_version: the version ``reference`` belongs to.
        start: the window's start (UTC).
        end: the window's end (UTC).
        config: the ``monitoring`` section.
        metric: the primary metric.
        slice_columns: columns to break realised performance down by.
        business_values: value of each binary outcome (``evaluation.business_values``).
        explainer: the version's SHAP explainer, for attribution drift (skipped without).
        seed: seed of the bootstraps, chunks and draws.
    """
    rows = rows[rows["route"] != "shadow"].reset_index(drop=True) if len(rows) else rows
    notes: list[str] = []
    base: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "start": start,
        "end": end,
        "rows": len(rows),
    }
    if len(rows) == 0:
        return WindowReport(**base, status="empty", notes=["no predictions in the window"])
    if len(rows) < config.min_rows:
        return WindowReport(
            **base,
            status="too_few_rows",
            notes=[
                f"{len(rows)} predictions, fewer than monitoring.min_rows = {config.min_rows}: "
                "too few to test for drift"
            ],
        )
    features = list(reference.features)
    inputs = _inputs(rows, features)
    schema = {
        "missing": [c for c in features if c not in inputs.columns],
        "unexpected": sorted(c for c in inputs.columns if c not in reference.features),
    }
    if schema["missing"]:
        notes.append(f"schema drift: the window lacks {schema['missing']}")
    settings = drift_settings(config, seed=seed)
    columns = drift_columns(reference.features, inputs, settings, sample=reference.sample)
    weights = reference.importance if config.weight_by_importance else None
    verdict = dataset_drift(columns, share=config.drift_share, weights=weights)

    outputs = _outputs(reference, rows["outputs"])
    prediction = drift_columns(
        {PREDICTION: reference.prediction}, outputs.to_frame(), settings, sample=reference.sample
    )
    labels = _labels(reference.task, rows["label"]) if "label" in rows.columns else None
    labelled = labels.notna().to_numpy() if labels is not None else np.zeros(len(rows), bool)
    label_drift = None
    if labels is not None and labelled.sum() >= config.min_labels:
        label_drift = drift_columns(
            {LABEL: reference.label},
            labels[labelled].rename(LABEL).to_frame(),
            settings,
            sample=reference.sample,
        )[0]

    multivariate = None
    if config.multivariate:
        numeric = [c for c, s in reference.features.items() if s.kind == "numeric"]
        categorical = [c for c, s in reference.features.items() if s.kind == "categorical"]
        check = fit_reconstruction(reference.sample, numeric, categorical, seed=seed)
        present = [c for c in features if c in inputs.columns]
        if check is None:
            notes.append("multivariate check skipped: the reference sample is too small")
        elif len(present) < len(features):
            notes.append("multivariate check skipped: columns are missing from the window")
        else:
            multivariate = check.check(inputs[features], alpha=config.alpha)

    performance, value = _performance(
        rows,
        inputs,
        labels,
        labelled,
        reference,
        config=config,
        metric=metric,
        slice_columns=[*slice_columns, *config.slices],
        business_values=business_values or {},
        seed=seed,
        model_version=model_version,
    )
    notes.extend(performance.pop("notes", []))

    attribution = None
    if explainer is not None and not schema["missing"]:
        try:
            attribution = attribution_drift(
                explainer, reference.sample, inputs, features, seed=seed
            )
        except Exception as exc:  # an explainer that cannot take these rows: say so
            notes.append(f"attribution drift skipped: {type(exc).__name__}: {str(exc)[:200]}")

    alarms = [f"drift:{c.column}" for c in columns if c.drifted]
    alarms += [f"schema:{c}" for c in schema["missing"]]
    if verdict["drifted"]:
        alarms.append("dataset_drift")
    if prediction and prediction[0].drifted:
        alarms.append("prediction_drift")
    if multivariate and multivariate["drifted"]:
        alarms.append("multivariate")
    if (performance.get("realised") or {}).get("dropped"):
        alarms.append("performance")
    if (performance.get("estimated") or {}).get("dropped"):
        alarms.append("estimated_performance")
    return WindowReport(
        **base,
        status="ok",
        columns=columns,
        schema=schema,
        dataset_drift=verdict,
        prediction_drift=prediction[0] if prediction else None,
        label_drift=label_drift,
        multivariate=multivariate,
        performance=performance,
        business_value=value,
        features=_ranked_features(columns, reference.importance),
        attribution=attribution,
        alarms=alarms,
        notes=notes,
    )


def _performance(
    rows: pd.DataFrame,
    inputs: pd.DataFrame,
    labels: pd.Series | None,
    labelled: np.ndarray,
    reference: Reference,
    *,
    config: MonitoringConfig,
    metric: str,
    slice_columns: Sequence[str],
    business_values: dict[str, float],
    seed: int,
    model_version: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    task = reference.task
    classes = np.asarray(reference.classes, dtype=object) if reference.classes else None
    scores = as_scores(task, rows["outputs"], reference.classes)
    evaluated = reference.metrics.get(metric)
    out: dict[str, Any] = {"metric": metric, "evaluated": evaluated, "notes": []}
    value: dict[str, Any] = {}
    binary = task == "binary" and classes is not None and len(classes) == 2

    # Realised: the rows whose label arrived.
    if labels is not None and labelled.any():
        y = labels[labelled].to_numpy()
        s = scores[labelled]
        out["realised"] = realised(
            task,
            metric,
            y,
            s,
            classes=classes,
            threshold=reference.threshold,
            evaluated=evaluated,
            margin=config.performance_margin,
            min_rows=config.min_labels,
            seed=seed,
        )
        by_version = {}
        versions = rows["model_version"].astype(str).to_numpy()
        for version in sorted(set(versions[labelled])):
            mask = labelled & (versions == version)
            by_version[version] = realised(
                task,
                metric,
                labels[mask].to_numpy(),
                scores[mask],
                classes=classes,
                threshold=reference.threshold,
                evaluated=evaluated if version == model_version else None,
                margin=config.performance_margin,
                min_rows=config.min_labels,
                seed=seed,
            )
        out["by_version"] = by_version
        if labelled.sum() >= config.min_labels:
            categorical = [c for c, sk in reference.features.items() if sk.kind == "categorical"]
            candidates = list(dict.fromkeys([*slice_columns, *categorical]))
            out["slices"] = slice_contributions(
                inputs[labelled].reset_index(drop=True),
                candidates,
                metric,
                y,
                s,
                classes=classes,
                threshold=reference.threshold,
                task=task,
                seed=seed,
            )
        if binary and business_values and classes is not None:
            decided = s[:, 1] >= (reference.threshold if reference.threshold is not None else 0.5)
            value["realised"] = business_value_of(y == classes[1], decided, business_values)
    else:
        out["realised"] = {
            "metric": metric,
            "value": None,
            "interval": None,
            "rows": 0,
            "dropped": False,
            "note": "no labels arrived for this window yet",
        }

    # Estimated: label-free, from the calibrated probabilities.
    if task in NUMERIC_TASKS or classes is None:
        out["estimated"] = None
        out["notes"].append(
            "label-free estimation applies to classifiers only; regression waits for labels"
        )
        return out, value
    ref_scores = reference_scores(reference.sample, list(classes))
    calibrator = (
        fit_calibrator(reference.sample, ref_scores, list(classes))
        if ref_scores is not None
        else None
    )
    if calibrator is None:
        out["estimated"] = None
        out["notes"].append(
            "label-free estimation skipped: the reference sample has too few validation rows "
            "with the model's probabilities"
        )
        return out, value
    estimated = estimate(
        metric,
        scores,
        calibrator,
        threshold=reference.threshold,
        business_values=business_values if binary else None,
        seed=seed,
    )
    if estimated.get("interval"):
        estimated["dropped"] = dropped(
            metric, estimated["interval"], evaluated, config.performance_margin
        )
    worth = estimated.pop("business_value", None)
    if worth is not None:
        value["estimated"] = worth
    out["estimated"] = estimated
    return out, value
