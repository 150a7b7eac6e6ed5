"""A fast path for serving: a headway model's preprocessing and scoring in plain NumPy.

:func:`compile_scorer` reads the fitted objects out of a headway estimator (the
``preprocess`` column transformer, the model, the calibrator and the decision threshold) and
returns a :class:`FastScorer` that does the same computation on the request's columns
without pandas or scikit-learn's column machinery:

- categories: a dict lookup per column into a table built by passing every known category
  (plus a missing and an unseen value) through the fitted encoder once, at compile time;
- numbers: median imputation, missing indicators and standardisation as array operations;
- the model: the booster (LightGBM, XGBoost) or the scikit-learn estimator called on the
  float matrix; then the calibrators and the threshold as scikit-learn applies them
  (:mod:`headway.serving.fastmodels`).

The scorer gives the same labels and probabilities as the estimator. It is checked against
the estimator on probe rows at compile time; a model it does not support (a forecasting
model, an unknown family or wrapper) or that fails the check gives ``None``, and the caller
keeps the estimator.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from headway.exceptions import InvalidRequestError
from headway.features.contract import FeatureTypes, coerce_features, feature_types_of
from headway.serving.fastmodels import (
    ModelFunction,
    Unsupported,
    calibrated,
    model_functions,
    unwrap,
)

__all__ = ["FastScorer", "compile_scorer"]

logger = logging.getLogger(__name__)

Columns = Mapping[str, Any]
"""A request's columns: name -> the values of its rows (a sequence or a 1-d array)."""

_UNSEEN = "\x00headway-unseen-category\x00"
_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class _Categorical:
    """One categorical column: category string -> row of ``table``, written to ``out``."""

    column: str
    index: dict[str, int]
    missing: int
    unseen: int
    table: np.ndarray
    out: slice

    def rows(self, values: Any, n: int) -> np.ndarray:
        """The table rows of ``values`` (coerced as :func:`coerce_features` does)."""
        index, unseen, missing = self.index, self.unseen, self.missing
        if isinstance(values, pd.Series):
            return self.checked(self._careful(values), n)
        codes = []
        for value in values:
            if type(value) is str:
                codes.append(index.get(value, unseen))
            elif value is None:
                codes.append(missing)
            else:
                # Numbers, NaN and the like: pandas infers a dtype for the whole column
                # (1 and 2.5 make "1.0" and "2.5"), so the column takes the careful way.
                return self.checked(self._careful(pd.Series(list(values))), n)
        if len(codes) != n:
            raise _rows_error(self.column, len(codes), n)
        return np.fromiter(codes, dtype=np.intp, count=n)

    def _careful(self, values: pd.Series) -> np.ndarray:
        missing = values.isna().to_numpy()
        strings = values.astype(str).to_numpy(dtype=object)
        index, unseen = self.index, self.unseen
        codes = [index.get(s, unseen) for s in strings]
        out = np.fromiter(codes, dtype=np.intp, count=len(codes))
        out[missing] = self.missing
        return out

    def checked(self, codes: np.ndarray, n: int) -> np.ndarray:
        if len(codes) != n:
            raise _rows_error(self.column, len(codes), n)
        return codes


def _rows_error(column: str, got: int, expected: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"column {column!r} has {got} values, the other columns {expected}; "
        "every column needs one value per row"
    )


_NUMBER_TYPES = (int, float, np.integer, np.floating)


def _numbers(column: str, values: Any, n: int) -> np.ndarray:
    """``values`` as float64, as ``pd.to_numeric(errors="coerce")`` makes them."""
    out: np.ndarray
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "fiu":
        out = values.astype(np.float64)
    elif isinstance(values, pd.Series):
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    elif all(
        value is None or (isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool))
        for value in values
    ):
        out = np.array(values, dtype=np.float64)
    else:  # text, booleans and the like: pandas decides, exactly as in coerce_features
        series = pd.Series(list(values))
        out = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
    if out.shape != (n,):
        raise _rows_error(column, len(out), n)
    return out


# A numeric step: (matrix of the block so far) -> the next matrix.
_Step = Callable[[np.ndarray], np.ndarray]


def _imputer_step(imputer: SimpleImputer) -> _Step:
    missing_values = imputer.missing_values
    if not (isinstance(missing_values, float) and math.isnan(missing_values)):
        raise Unsupported(f"imputer of missing_values={missing_values!r}")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    keep = np.arange(len(statistics))
    if not imputer.keep_empty_features:
        keep = np.flatnonzero(~np.isnan(statistics))
    statistics = statistics[keep]
    indicator = getattr(imputer, "indicator_", None)
    flagged = None if indicator is None else np.asarray(indicator.features_, dtype=np.intp)

    def impute(x: np.ndarray) -> np.ndarray:
        values = x[:, keep]
        imputed = np.where(np.isnan(values), statistics, values)
        if flagged is None:
            return imputed
        return np.hstack([imputed, np.isnan(x[:, flagged]).astype(np.float64)])

    return impute


def _scaler_step(scaler: StandardScaler) -> _Step:
    mean = None if scaler.mean_ is None or not scaler.with_mean else np.asarray(scaler.mean_)
    scale = None if scaler.scale_ is None or not scaler.with_std else np.asarray(scaler.scale_)

    def standardise(x: np.ndarray) -> np.ndarray:
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return standardise


def _numeric_steps(transformer: Any) -> list[_Step]:
    parts = (
        [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    )
    steps: list[_Step] = []
    for part in parts:
        if isinstance(part, SimpleImputer):
            steps.append(_imputer_step(part))
        elif isinstance(part, StandardScaler):
            steps.append(_scaler_step(part))
        elif part != "passthrough" and part is not None:
            raise Unsupported(f"numeric step {type(part).__name__}")
    return steps


def _categorical_blocks(
    encoder: Any, columns: list[str], out: slice, types: FeatureTypes
) -> list[_Categorical]:
    """One lookup table per column, made by the fitted encoder itself."""
    if isinstance(encoder, OneHotEncoder):
        if encoder.drop is not None or encoder.sparse_output:
            raise Unsupported("one-hot encoder with drop or sparse output")
    elif not isinstance(encoder, OrdinalEncoder):
        raise Unsupported(f"categorical step {type(encoder).__name__}")
    if not set(columns) <= set(types.categorical):
        raise Unsupported("an encoder of numeric columns")
    probes: list[list[Any]] = []
    for categories in encoder.categories_:
        known = [c for c in categories if not _is_missing(c)]
        if not all(isinstance(c, str) for c in known):
            raise Unsupported("categories that are not strings")
        probes.append([*known, np.nan, _UNSEEN])
    length = max(len(p) for p in probes)
    frame = pd.DataFrame(
        {
            c: np.array(p + [p[0]] * (length - len(p)), dtype=object)
            for c, p in zip(columns, probes, strict=True)
        }
    )
    encoded = np.asarray(encoder.transform(frame), dtype=np.float64)
    widths = _output_widths(encoder, encoded.shape[1])
    blocks, start = [], out.start
    for j, (column, probe) in enumerate(zip(columns, probes, strict=True)):
        begin = sum(widths[:j])
        table = encoded[: len(probe), begin : begin + widths[j]].copy()
        blocks.append(
            _Categorical(
                column=column,
                index={c: i for i, c in enumerate(probe[:-2])},
                missing=len(probe) - 2,
                unseen=len(probe) - 1,
                table=table,
                out=slice(start + begin, start + begin + widths[j]),
            )
        )
    if sum(widths) != out.stop - out.start:
        raise Unsupported("encoder output width")
    return blocks


def _output_widths(encoder: Any, total: int) -> list[int]:
    if isinstance(encoder, OrdinalEncoder):
        widths = [1] * len(encoder.categories_)
    else:
        widths = []
        infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(
            encoder.categories_
        )
        for categories, rare in zip(encoder.categories_, infrequent, strict=True):
            widths.append(len(categories) if rare is None else len(categories) - len(rare) + 1)
    if sum(widths) != total:
        raise Unsupported("encoder output width")
    return widths


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True, eq=False)
class FastScorer:
    """The computation of a headway estimator, compiled to NumPy (see the module docs)."""

    types: FeatureTypes
    classes: np.ndarray | None
    """The class labels of a classifier (``None`` for a regressor)."""
    threshold: float | None
    """The decision threshold on the positive class's probability (binary), if any."""
    width: int
    categorical: tuple[_Categorical, ...]
    numeric_out: slice
    numeric_steps: tuple[_Step, ...]
    model: ModelFunction

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def matrix(self, columns: Columns | pd.DataFrame) -> np.ndarray:
        """The preprocessed float matrix of the request (what the model takes)."""
        n = self._n_rows(columns)
        x = np.empty((n, self.width), dtype=np.float64)
        for block in self.categorical:
            x[:, block.out] = block.table[block.rows(self._values(columns, block.column), n)]
        if self.types.numeric:
            numbers = np.empty((n, len(self.types.numeric)), dtype=np.float64)
            for j, column in enumerate(self.types.numeric):
                numbers[:, j] = _numbers(column, self._values(columns, column), n)
            for step in self.numeric_steps:
                numbers = step(numbers)
            x[:, self.numeric_out] = numbers
        return x

    def scores(self, columns: Columns | pd.DataFrame) -> np.ndarray:
        """Unrounded class probabilities ``(n, k)`` (classifiers) or values ``(n,)``."""
        return self.model(self.matrix(columns))

    def predict(self, columns: Columns | pd.DataFrame) -> dict[str, Any]:
        """Predictions (and probabilities) in the server's response format."""
        scores = self.scores(columns)
        if self.classes is None:
            return {"predictions": np.asarray(scores).tolist()}
        classes = self.classes
        if scores.shape[1] == 2 and self.threshold is not None:
            labels = np.where(scores[:, 1] >= self.threshold, classes[1], classes[0])
            return {
                "predictions": labels.tolist(),
                "probabilities": scores[:, 1].round(6).tolist(),
            }
        labels = classes[np.argmax(scores, axis=1)]
        names = list(map(str, classes))
        return {
            "predictions": labels.tolist(),
            "probabilities": [
                dict(zip(names, row.round(6).tolist(), strict=True)) for row in scores
            ],
        }

    def _n_rows(self, columns: Columns | pd.DataFrame) -> int:
        if isinstance(columns, pd.DataFrame):
            return len(columns)
        for column in self.types.columns:
            return len(self._values(columns, column))
        raise InvalidRequestError("the model takes no columns")

    @staticmethod
    def _values(columns: Columns | pd.DataFrame, column: str) -> Any:
        try:
            return columns[column]
        except KeyError:
            raise InvalidRequestError(f"missing feature column {column!r}") from None


def compile_scorer(estimator: Any, *, verify: bool = True) -> FastScorer | None:
    """A :class:`FastScorer` of a fitted headway estimator, or ``None`` when it holds
    something the fast path does not support (a forecasting model, a model family or
    wrapper it does not know) so that the caller keeps using ``estimator``.

    With ``verify`` (the default), the scorer is checked on probe rows (every known
    category, missing and unseen values, imputed numbers) against ``estimator`` and ``None``
    is returned if any label or score differs (scores by more than 1e-9).
    """
    try:
        scorer = _compile(estimator)
    except Unsupported as exc:
        logger.debug("no fast path for %s: %s", type(estimator).__name__, exc)
        return None
    if verify and not _agrees(scorer, estimator):
        logger.warning("the fast path disagrees with %s; using the estimator", type(estimator))
        return None
    return scorer


def _compile(estimator: Any) -> FastScorer:
    threshold, calibrator, node = None, None, estimator
    if isinstance(node, FixedThresholdClassifier):
        threshold = node.threshold
        if not isinstance(threshold, int | float) or isinstance(threshold, bool):
            raise Unsupported(f"threshold {threshold!r}")
        if node.response_method not in ("auto", "predict_proba"):
            raise Unsupported(f"response_method {node.response_method!r}")
        node = unwrap(vars(node).get("estimator_") or node.estimator)
        two = np.asarray(node.classes_)
        if len(two) != 2 or estimator.pos_label not in (None, two[1]):
            raise Unsupported("a threshold on a class other than the second of two")
    node = unwrap(node)
    if isinstance(node, CalibratedClassifierCV):
        calibrator = node
        inner = [unwrap(c.estimator) for c in node.calibrated_classifiers_]
        if not inner:
            raise Unsupported("no calibrated classifiers")
        node = inner[0]
    if not isinstance(node, Pipeline):
        raise Unsupported(f"{type(node).__name__} is not a headway pipeline")
    pipeline = node
    if [name for name, _ in pipeline.steps] != ["preprocess", "model"]:
        raise Unsupported(f"pipeline steps {[name for name, _ in pipeline.steps]}")
    try:
        types = feature_types_of(estimator)
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc
    pre, model = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    classifier = hasattr(estimator, "predict_proba")
    if not isinstance(pre, ColumnTransformer) or getattr(pre, "sparse_output_", False):
        raise Unsupported("preprocessing that is not a dense ColumnTransformer")
    categorical: list[_Categorical] = []
    numeric_out, numeric_steps = slice(0, 0), []
    width = 0
    for name, transformer, cols in pre.transformers_:
        columns = list(cols)
        out = pre.output_indices_[name]
        width = max(width, out.stop)
        if not columns or transformer == "drop":
            continue
        if name == "categorical":
            categorical.extend(_categorical_blocks(transformer, columns, out, types))
        elif name == "numeric":
            if columns != list(types.numeric):
                raise Unsupported("numeric columns out of order")
            numeric_out, numeric_steps = out, _numeric_steps(transformer)
        else:
            raise Unsupported(f"transformer {name!r}")
    if width != getattr(model, "n_features_in_", width):
        raise Unsupported("model input width")
    score, decision = model_functions(model, classifier)
    if calibrator is not None:
        score = calibrated(calibrator, pipeline, score, decision)
    classes = np.asarray(estimator.classes_) if classifier else None
    return FastScorer(
        types=types,
        classes=classes,
        threshold=None if threshold is None else float(threshold),
        width=width,
        categorical=tuple(categorical),
        numeric_out=numeric_out,
        numeric_steps=tuple(numeric_steps),
        model=score,
    )


def _probe(scorer: FastScorer, rows: int = 24) -> dict[str, list[Any]]:
    """Rows that visit every known category, a missing and an unseen one, and numbers
    around the imputed values with some missing."""
    columns: dict[str, list[Any]] = {}
    rows = max([rows, *(len(block.index) + 2 for block in scorer.categorical)])
    for block in scorer.categorical:
        known: list[Any] = [*block.index, None, _UNSEEN]
        columns[block.column] = [known[i % len(known)] for i in range(rows)]
    rng = np.random.default_rng(0)
    for column in scorer.types.numeric:
        values = rng.normal(0.0, 100.0, rows).round(2)
        columns[column] = [None if i % 5 == 2 else float(v) for i, v in enumerate(values)]
    return columns


def _agrees(scorer: FastScorer, estimator: Any) -> bool:
    columns = _probe(scorer)
    frame = coerce_features(pd.DataFrame(columns), scorer.types)[list(scorer.types.columns)]
    try:
        fast = scorer.predict(columns)
        scores = np.asarray(scorer.scores(columns), dtype=np.float64)
        if scorer.is_classifier:
            expected = np.asarray(estimator.predict_proba(frame), dtype=np.float64)
            labels = np.asarray(estimator.predict(frame))
            if not np.array_equal(np.asarray(fast["predictions"]), labels):
                return False
        else:
            expected = np.asarray(estimator.predict(frame), dtype=np.float64)
    except Exception:  # any failure means: not this model
        logger.debug("fast path check failed", exc_info=True)
        return False
    return bool(
        scores.shape == expected.shape
        and np.allclose(scores, expected, rtol=0.0, atol=_TOLERANCE, equal_nan=True)
    )
