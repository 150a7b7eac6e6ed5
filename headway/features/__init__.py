"""Features: the model's input contract (feature typing, coercion, the preprocessing that
travels inside the model), the forecasting features built from each series' own past, and
the feature store: definitions (``definitions``), point-in-time training sets (``pit``),
online stores (``online``) and materialization (``materialize``), imported from their
modules.

Training, evaluation, gates and serving import the contract from here, never from each
other.
"""

from __future__ import annotations

from headway.features.contract import (
    FeatureTypes,
    build_preprocessor,
    coerce_features,
    feature_frame,
    feature_types_of,
    infer_feature_types,
    model_pipeline,
)

__all__ = [
    "FeatureTypes",
    "build_preprocessor",
    "coerce_features",
    "feature_frame",
    "feature_types_of",
    "infer_feature_types",
    "model_pipeline",
]
