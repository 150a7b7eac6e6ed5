"""Training stage: preprocessing pipelines and the hyper-parameter search."""

from __future__ import annotations

from headway.training.preprocess import (
    FeatureTypes,
    coerce_features,
    feature_frame,
    infer_feature_types,
)
from headway.training.search import TrialRecord, train

__all__ = [
    "FeatureTypes",
    "TrialRecord",
    "coerce_features",
    "feature_frame",
    "infer_feature_types",
    "train",
]
