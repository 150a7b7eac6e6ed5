"""A registered model loaded for serving: input checks and predictions with probabilities."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from headway.exceptions import InvalidRequestError, ServingError
from headway.registry import ModelRegistry
from headway.training.preprocess import FeatureTypes, coerce_features, feature_types_of

__all__ = ["ServedModel"]

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


@dataclass
class ServedModel:
    """A fitted headway estimator plus what the server needs to know about it."""

    uri: str
    name: str | None
    version: str | None
    estimator: Any
    types: FeatureTypes

    @classmethod
    def load(cls, uri: str, registry: ModelRegistry) -> ServedModel:
        """Load ``uri`` (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``) from ``registry``.

        Raises:
            ModelNotFoundError: nothing is registered under ``uri``.
            ServingError: the model is not a headway model pipeline.
        """
        name = version = None
        if m := _ALIAS_URI.match(uri):
            name = m["name"]
            info = registry.version_by_alias(name, m["alias"])
            version = info.version if info else None
            if info is not None:
                uri = f"models:/{name}/{version}"  # pin: the alias may move while we serve
        elif m := _VERSION_URI.match(uri):
            name, version = m["name"], m["version"]
        estimator = registry.load_estimator(uri)
        try:
            types = feature_types_of(estimator)
        except ValueError as exc:
            raise ServingError(f"{uri}: {exc}; headway serves models trained by headway") from exc
        return cls(uri=uri, name=name, version=version, estimator=estimator, types=types)

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check and coerce request columns to the training dtypes.

        Raises:
            InvalidRequestError: a feature column is missing, or a numeric column holds text.
        """
        missing = [c for c in self.types.columns if c not in frame.columns]
        if missing:
            raise InvalidRequestError(
                f"missing input column(s): {missing}. The model expects: {list(self.types.columns)}"
            )
        for column in self.types.numeric:
            values = frame[column]
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                numeric = pd.to_numeric(values, errors="coerce")
                bad = values[numeric.isna() & values.notna()]
                if len(bad):
                    raise InvalidRequestError(
                        f"column {column!r} must be numeric; row {int(bad.index[0])} has "
                        f"{str(bad.iloc[0])[:40]!r}"
                    )
        return coerce_features(frame, self.types)[list(self.types.columns)]

    def predict(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Predictions for a request frame: labels or values, and class probabilities."""
        features = self.prepare(frame)
        if not self.is_classifier:
            return {"predictions": np.asarray(self.estimator.predict(features)).tolist()}
        proba = np.asarray(self.estimator.predict_proba(features))
        classes = np.asarray(self.estimator.classes_)
        threshold = getattr(self.estimator, "threshold", None)
        if proba.shape[1] == 2 and threshold is not None:
            labels = np.where(proba[:, 1] >= threshold, classes[1], classes[0])
            return {"predictions": labels.tolist(), "probabilities": proba[:, 1].round(6).tolist()}
        labels = classes[np.argmax(proba, axis=1)]
        return {
            "predictions": labels.tolist(),
            "probabilities": [
                dict(zip(map(str, classes), row.round(6).tolist(), strict=True)) for row in proba
            ],
        }
