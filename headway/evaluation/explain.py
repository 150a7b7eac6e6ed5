"""Why a model predicts what it does: SHAP values per raw input column, with shap.

A headway model is a pipeline (``forecast``, ``preprocess``, ``model``), possibly wrapped in
a calibrator and a threshold classifier. The explanation is of the ``model`` step on the
preprocessed rows, then summed back onto the columns that went into ``preprocess``:
the one-hot columns of a category and the missing-indicator of a number count for the
column they encode. For a forecasting model those are the raw columns that the
``forecast`` step passes through plus its own lag, rolling-mean and calendar columns,
which keep their names.

What is explained is the model's raw output, before calibration and the threshold:

- LightGBM, XGBoost and linear classifiers: the log-odds of the positive class (binary),
  the per-class margins (multiclass);
- random forests and extra trees (classifiers): the class probabilities;
- regressors: the predicted value.

Tree models use ``shap.TreeExplainer`` (exact, path-dependent: no background rows are
needed); linear models ``shap.LinearExplainer``, against the mean of background rows or,
without any, the all-zero encoded row (numbers at their training mean, no category).
shap is an optional dependency (``pip install 'headway[explain]'``).
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import OneToOneFeatureMixin
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from headway.exceptions import ConfigError
from headway.features.contract import coerce_features, feature_types_of, model_pipeline

__all__ = ["Explainer", "encoded_owners", "explain_rows", "global_importance", "importance_figure"]

_FORESTS = (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
_MAX_BACKGROUND = 100


def _shap() -> Any:
    try:
        return importlib.import_module("shap")
    except ImportError as exc:
        raise ConfigError("SHAP explanations need shap: pip install 'headway[explain]'") from exc


# -- encoded columns -> raw columns ------------------------------------------------------


def _input_names(transformer: Any, n_inputs: int) -> list[str]:
    names = getattr(transformer, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(n_inputs)]


def _one_hot_owners(encoder: OneHotEncoder, inputs: list[str]) -> list[str]:
    """The input of each one-hot output, as the encoder itself names its outputs: a copy
    with a feature-name combiner that records which input each output comes from."""
    seen: list[str] = []

    def record(feature: str, category: Any) -> str:
        seen.append(str(feature))
        return f"{feature}_{category}"

    probe = copy.copy(encoder)
    probe.feature_name_combiner = record
    n_out = len(probe.get_feature_names_out())
    position = {name: i for i, name in enumerate(_input_names(encoder, len(inputs)))}
    # The encoder calls the combiner once more first, to check what it returns.
    return [inputs[position[name]] for name in seen[len(seen) - n_out :]]


def _owners(transformer: Any, inputs: list[str]) -> list[str]:
    """For each output column of a fitted ``transformer``, the input column it encodes
    (``inputs[i]`` names what feeds input ``i``).

    Raises:
        ValueError: the outputs of ``transformer`` cannot be traced to its inputs.
    """
    if isinstance(transformer, str):  # "passthrough"
        return list(inputs)
    if isinstance(transformer, Pipeline):
        for _, step in transformer.steps:
            if step is not None and step != "passthrough":
                inputs = _owners(step, inputs)
        return inputs
    if isinstance(transformer, OneHotEncoder):
        return _one_hot_owners(transformer, inputs)
    if isinstance(transformer, SimpleImputer):
        # Kept columns (those with a fill value), then one indicator per column that had
        # missing values in fit: what SimpleImputer.get_feature_names_out lists.
        fills = transformer.statistics_
        kept = [name for name, fill in zip(inputs, fills, strict=True) if not pd.isna(fill)]
        indicator = transformer.indicator_ if transformer.add_indicator else None
        return kept + ([] if indicator is None else _owners(indicator, inputs))
    if isinstance(transformer, MissingIndicator):
        return [inputs[int(i)] for i in transformer.features_]
    if isinstance(transformer, OneToOneFeatureMixin):  # scalers, ordinal encoders
        return list(inputs)
    raise ValueError(
        f"cannot trace the outputs of {type(transformer).__name__} to its input columns"
    )


def encoded_owners(preprocess: Any) -> tuple[list[str], list[str]]:
    """The input columns of a fitted headway ``preprocess`` step, and the input column that
    each of its output (encoded) columns comes from.

    The mapping follows the fitted ``ColumnTransformer`` (``transformers_``) and the
    structure of each transformer in it (one-hot categories, imputer and missing
    indicator, one-to-one encoders), not the output names.

    Raises:
        ValueError: a transformer's outputs cannot be traced to its inputs, or the traced
            outputs do not add up to the ``ColumnTransformer``'s.
    """
    names_in = [str(c) for c in getattr(preprocess, "feature_names_in_", [])]
    features: list[str] = []
    owners: list[str] = []
    for _, transformer, columns in preprocess.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        selected = [names_in[c] if isinstance(c, int | np.integer) else str(c) for c in columns]
        if not selected:  # an empty selection has no outputs (and may not be fitted)
            continue
        features.extend(selected)
        owners.extend(_owners(transformer, selected))
    n_out = len(preprocess.get_feature_names_out())
    if len(owners) != n_out:
        raise ValueError(f"traced {len(owners)} encoded columns, but the preprocessing has {n_out}")
    return features, owners


# -- the explainer -----------------------------------------------------------------------


def _is_tree(model: Any) -> bool:
    if isinstance(model, _FORESTS):
        return True
    # LightGBM and XGBoost models, headway's XGBLabelClassifier included (a subclass).
    return any(c.__module__.split(".")[0] in ("lightgbm", "xgboost") for c in type(model).__mro__)


def _is_linear(model: Any) -> bool:
    return hasattr(model, "coef_") and hasattr(model, "intercept_")


class Explainer:
    """SHAP values of a fitted headway model, per raw input column.

    Built once per model (the shap explainer with it); then :meth:`importance` and
    :meth:`explain` take any rows with the model's input columns.

    Args:
        estimator: A fitted headway model (bare pipeline or wrapped).
        background: Rows with the model's input columns that linear models are explained
            against (their mean); at most ``max_background`` of them are sampled. Tree
            models need none.
        max_background: The most background rows used.
        seed: Seed of the background sample.

    Attributes:
        features: The raw input columns, in the order of :meth:`contributions`.
        classes: The classes of the model step (``None`` for a regressor).

    Raises:
        ConfigError: shap is not installed.
        ValueError: ``estimator`` is not a headway model, or its model step is neither
            a tree ensemble nor a linear model.
    """

    def __init__(
        self,
        estimator: Any,
        background: pd.DataFrame | None = None,
        *,
        max_background: int = _MAX_BACKGROUND,
        seed: int = 0,
    ) -> None:
        shap = _shap()
        pipeline = model_pipeline(estimator)
        steps = pipeline.named_steps
        self._types = feature_types_of(estimator)
        self._front = steps.get("forecast")
        self._preprocess = steps["preprocess"]
        self._model = steps["model"]
        features, owners = encoded_owners(self._preprocess)
        self.features: tuple[str, ...] = tuple(features)
        index = {name: i for i, name in enumerate(features)}
        self._matrix = np.zeros((len(owners), len(features)))
        self._matrix[np.arange(len(owners)), [index[o] for o in owners]] = 1.0
        classes = getattr(self._model, "classes_", None)
        self.classes: tuple[Any, ...] | None = (
            None if classes is None else tuple(np.asarray(classes).tolist())
        )
        if _is_tree(self._model):
            self._explainer = shap.TreeExplainer(self._model)
        elif _is_linear(self._model):
            if background is not None and len(background):
                if len(background) > max_background:
                    background = background.sample(n=max_background, random_state=seed)
                data: Any = self.transform(background)
            else:
                n = len(owners)
                data = (np.zeros(n), np.eye(n))
            self._explainer = shap.LinearExplainer(self._model, data)
        else:
            raise ValueError(
                f"cannot explain a {type(self._model).__name__} model step: "
                "SHAP explanations cover tree ensembles and linear models"
            )

    @property
    def multiclass(self) -> bool:
        return self.classes is not None and len(self.classes) > 2

    @property
    def expected_value(self) -> float | np.ndarray:
        """The explained output with no feature known: a float, one per class for multiclass.
        A row's contributions (:meth:`contributions`) sum to its output minus this."""
        return self._pick(np.asarray(self._explainer.expected_value, dtype=float), axis=0)

    def _pick(self, values: np.ndarray, axis: int) -> Any:
        """The explained output of raw shap output along ``axis`` (the output axis, if
        any): the positive class of a binary classifier, all classes for multiclass."""
        if self.multiclass:
            return values
        if values.ndim > axis and values.shape[axis] == 2 and self.classes is not None:
            return np.take(values, 1, axis=axis)
        if values.ndim > axis and values.shape[axis] == 1:
            return np.take(values, 0, axis=axis)
        return float(values) if values.ndim == 0 else values

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows as the model step takes them (forecast features, then preprocessing)."""
        rows: Any = coerce_features(frame, self._types)[list(self._types.columns)]
        if self._front is not None:
            rows = self._front.transform(rows)
        return np.asarray(self._preprocess.transform(rows), dtype=float)

    def encoded_values(self, frame: pd.DataFrame) -> np.ndarray:
        """SHAP values per encoded column: ``n x encoded`` (``n x encoded x classes`` for
        multiclass)."""
        raw = self._explainer.shap_values(self.transform(frame))
        values = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw)
        return np.asarray(self._pick(values.astype(float), axis=2))

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Signed SHAP values per raw column (:attr:`features`): ``n x features``
        (``n x features x classes`` for multiclass). Each row sums to its explained
        output minus :attr:`expected_value`."""
        values = self.encoded_values(frame)
        return np.einsum("ne...,ef->nf...", values, self._matrix)

    def importance(self, frame: pd.DataFrame) -> dict[str, float]:
        """Mean absolute SHAP value per raw column over the rows of ``frame``, largest
        first. The absolute values of a column's encoded columns are summed per row (and
        averaged over classes for multiclass)."""
        magnitude = np.einsum("ne...,ef->nf...", np.abs(self.encoded_values(frame)), self._matrix)
        per_feature = magnitude.mean(axis=0)
        if per_feature.ndim == 2:
            per_feature = per_feature.mean(axis=1)
        order = np.argsort(-per_feature, kind="stable")
        return {self.features[i]: float(per_feature[i]) for i in order}

    def explain(self, frame: pd.DataFrame, top: int = 5) -> list[dict[str, float]]:
        """Per row, the ``top`` raw columns by absolute contribution, signed, largest first.

        For multiclass models each row is explained toward the class the model step ranks
        first.

        Raises:
            ValueError: ``top`` < 1.
        """
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        values = self.contributions(frame)
        if values.ndim == 3:
            margins = values.sum(axis=1) + np.asarray(self.expected_value)
            values = values[np.arange(len(values)), :, np.argmax(margins, axis=1)]
        out = []
        for row in values:
            order = np.argsort(-np.abs(row), kind="stable")[:top]
            out.append({self.features[i]: float(row[i]) for i in order})
        return out


def global_importance(
    estimator: Any, frame: pd.DataFrame, *, max_rows: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean absolute SHAP value per raw input column of a headway model, largest first.

    Args:
        estimator: A fitted headway model.
        frame: Rows with the model's input columns (the holdout, say).
        max_rows: The most rows explained; a seeded sample of them when there are more.
        seed: Seed of the sample.

    Raises:
        ConfigError: shap is not installed.
        ValueError: the model cannot be explained (see :class:`Explainer`).
    """
    rows = frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame
    return Explainer(estimator, rows, seed=seed).importance(rows)


def explain_rows(
    estimator: Any,
    frame: pd.DataFrame,
    *,
    top: int = 5,
    background: pd.DataFrame | None = None,
) -> list[dict[str, float]]:
    """Per row of ``frame``, the ``top`` raw columns by absolute SHAP value, signed.

    Build an :class:`Explainer` once instead when explaining many batches.

    Args:
        estimator: A fitted headway model.
        frame: The rows to explain.
        top: How many columns per row.
        background: Rows that linear models are explained against (see
            :class:`Explainer`).

    Raises:
        ConfigError: shap is not installed.
        ValueError: the model cannot be explained, or ``top`` < 1.
    """
    return Explainer(estimator, background).explain(frame, top)


def importance_figure(importance: dict[str, float], top: int = 15) -> Figure:
    """A horizontal bar chart of the ``top`` most important columns, largest at the top.

    Args:
        importance: Mean absolute SHAP value per column (:func:`global_importance`).
        top: How many columns to show.
    """
    shown = sorted(importance.items(), key=lambda item: -item[1])[:top]
    names = [name for name, _ in reversed(shown)]
    values = [value for _, value in reversed(shown)]
    figure = Figure(figsize=(7.0, 0.35 * len(shown) + 1.2), layout="constrained")
    ax = figure.add_subplot()
    ax.barh(names, values, color="#4c72b0")
    ax.set_xlabel("mean |SHAP value|")
    ax.set_title("Feature importance")
    return figure
