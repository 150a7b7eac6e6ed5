"""Features: the model's input contract (feature typing, coercion, the preprocessing that
travels inside the model) and the forecasting features built from each series' own past.

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
