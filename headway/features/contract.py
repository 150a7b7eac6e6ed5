"""The model's input contract: which columns a model takes, with which types, and the
preprocessing that travels inside the model, so that serving does exactly what training did.

Training builds the pipeline with :func:`build_preprocessor`; evaluation, gates, serving and
reproduce read the contract back from a fitted model with :func:`feature_types_of` and
coerce raw rows with :func:`coerce_features`.

Only scikit-learn's own transformers are used, so that a registered model loads with a
plain MLflow + scikit-learn + LightGBM install, without headway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from headway.artifacts import TrainedModel

__all__ = [
    "FeatureTypes",
    "build_preprocessor",
    "coerce_features",
    "feature_frame",
    "feature_types_of",
    "infer_feature_types",
    "model_pipeline",
]


@dataclass(frozen=True)
class FeatureTypes:
    """Feature columns split into numeric and categorical, in model input order."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.categorical + self.numeric


def infer_feature_types(frame: pd.DataFrame, columns: list[str]) -> FeatureTypes:
    """Numeric dtypes (booleans included) are numeric; everything else is categorical."""
    numeric = [c for c in columns if is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c])]
    categorical = [c for c in columns if c not in numeric]
    return FeatureTypes(numeric=tuple(numeric), categorical=tuple(categorical))


def coerce_features(frame: pd.DataFrame, types: FeatureTypes) -> pd.DataFrame:
    """The feature columns with stable dtypes: float64 for numbers, strings for categories.

    Numbers become float64 so that JSON integers and floats are accepted alike at serving
    time; categories become strings (missing stays missing) so that pandas 2 and 3 agree.
    """
    data: dict[str, np.ndarray] = {}
    for column in types.categorical:
        values = frame[column]
        # NaN (not None or pd.NA) marks a missing category: it is what a raw pandas column
        # holds, so a plain MLflow load given raw columns encodes exactly like this.
        strings = values.astype(str).to_numpy(dtype=object)
        strings[values.isna().to_numpy()] = np.nan
        data[column] = strings
    for column in types.numeric:
        data[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    # One DataFrame built at once: column-by-column assignment costs milliseconds per
    # request at serving time.
    return pd.DataFrame(data, index=frame.index, copy=False)


def build_preprocessor(
    types: FeatureTypes, encoding: Literal["ordinal", "onehot"] = "ordinal"
) -> ColumnTransformer:
    """The preprocessing of one model family; categorical columns come first.

    ``ordinal`` (trees): categories become codes (unseen and missing -> NaN, which LightGBM
    treats as missing; categorical output indices are ``0..len(categorical)-1``), numbers are
    imputed with the median plus a missing-indicator so that missingness stays visible.
    ``onehot`` (linear models): one column per category (missing is a category of its own,
    unseen ones are all zeros), numbers imputed, indicated and standardised.
    """
    if encoding == "onehot":
        categorical: Any = OneHotEncoder(
            handle_unknown="ignore", min_frequency=5, sparse_output=False, dtype=float
        )
        numeric: Any = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )
    else:
        categorical = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            dtype=float,
        )
        numeric = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    return ColumnTransformer(
        [
            ("categorical", categorical, list(types.categorical)),
            ("numeric", numeric, list(types.numeric)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def model_pipeline(estimator: object) -> Pipeline:
    """The pipeline (``forecast``, ``preprocess``, ``model`` steps) inside a headway model,
    unwrapped from its threshold classifier and calibrator.

    Raises:
        ValueError: ``estimator`` holds no pipeline.
    """
    inner: Any = estimator
    # FixedThresholdClassifier -> FrozenEstimator -> CalibratedClassifierCV -> FrozenEstimator.
    # vars(), not getattr(): FrozenEstimator forwards unknown attributes to what it wraps.
    while inner is not None and not isinstance(inner, Pipeline):
        own = vars(inner) if hasattr(inner, "__dict__") else {}
        inner = own.get("estimator_") or own.get("estimator")
    if inner is None:
        raise ValueError(f"{type(estimator).__name__} is not a headway model pipeline")
    return inner


def feature_types_of(estimator: object) -> FeatureTypes:
    """Recover the feature types from a fitted headway estimator (as loaded from MLflow).

    Works on the pipeline built by :func:`headway.training.train`, bare or wrapped in a
    threshold classifier or a calibrator; raises ``ValueError`` for any other object.
    """
    steps = model_pipeline(estimator).named_steps
    pre = steps.get("preprocess")
    if pre is None or not hasattr(pre, "transformers_"):
        raise ValueError(f"{type(estimator).__name__} is not a headway model pipeline")
    columns = {name: tuple(cols) for name, _, cols in pre.transformers_ if name != "remainder"}
    numeric, categorical = columns.get("numeric", ()), columns.get("categorical", ())
    front = steps.get("forecast")
    if front is not None:
        # A forecasting model takes the raw columns and the timestamp (parsed from text);
        # the lag, rolling and calendar columns are its own.
        derived = set(front.get_feature_names_out([]))
        numeric = tuple(c for c in numeric if c not in derived)
        categorical = (
            *(c for c in categorical if c not in derived),
            front.timestamp_column,
        )
    return FeatureTypes(numeric=numeric, categorical=categorical)


def feature_frame(frame: pd.DataFrame, model: TrainedModel) -> pd.DataFrame:
    """The model's input columns of ``frame`` with the dtypes the model was trained on."""
    numeric = tuple(c for c in model.feature_columns if c not in model.categorical_columns)
    types = FeatureTypes(numeric=numeric, categorical=model.categorical_columns)
    return coerce_features(frame, types)[list(model.feature_columns)]
