"""A registered model loaded for serving: input checks and predictions with probabilities."""

from __future__ import annotations

import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headway.data.schema import DataSchema, load_schema
from headway.data.validate import UNKNOWN_CATEGORY
from headway.exceptions import DataError, InvalidRequestError, ServingError
from headway.features.contract import FeatureTypes, coerce_features, feature_types_of
from headway.registry import ModelRegistry, layout

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
    schema: DataSchema | None = None
    _explainer: Any = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        schema = None
        if name is not None and version is not None:
            schema = _training_schema(registry, registry.get_version(name, version).run_id)
        return cls(uri, name, version, estimator, types, schema)

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

    def enforce_schema(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """Apply the training schema's null and category rules to a request.

        Returns the frame (unseen categories mapped when the schema says ``map``) and the
        warnings for checks of severity ``warn``.

        Raises:
            InvalidRequestError: a check of severity ``error`` fails; names column and row.
        """
        warnings: list[dict[str, Any]] = []
        if self.schema is None:
            return frame, warnings
        rules = self.schema.checks
        for name in self.types.columns:
            column = self.schema.columns.get(name)
            if column is None or name not in frame.columns:
                continue
            values = frame[name]
            if not column.nullable and rules.nulls != "off":
                rows = np.flatnonzero(values.isna().to_numpy())
                if len(rows):
                    if rules.nulls == "error":
                        raise InvalidRequestError(
                            f"column {name!r} is null in row {int(rows[0])}; the training schema "
                            "says it is never null"
                        )
                    warnings.append({"column": name, "check": "nulls", "rows": rows[:5].tolist()})
            if column.categories is not None and rules.categories != "off":
                unseen = values.notna() & ~values.astype(str).isin(column.categories)
                rows = np.flatnonzero(unseen.to_numpy())
                if not len(rows):
                    continue
                if rules.categories == "error":
                    raise InvalidRequestError(
                        f"column {name!r} has {str(values.iloc[rows[0]])[:40]!r} in row "
                        f"{int(rows[0])}, a category not seen in training"
                    )
                if rules.categories == "map":
                    frame = frame.copy(deep=False)
                    frame[name] = values.where(~unseen, UNKNOWN_CATEGORY)
                warnings.append({"column": name, "check": "categories", "rows": rows[:5].tolist()})
        return frame, warnings

    def predict(self, frame: pd.DataFrame, *, explain: int = 0) -> dict[str, Any]:
        """Predictions for a request frame: labels or values, class probabilities, and the
        schema warnings of the request (if any); with ``explain`` > 0, also the SHAP
        contributions of that many input columns per row (largest first, signed, for the
        model's raw output: log-odds for boosting, probability for forests)."""
        features = self.prepare(frame)
        features, warnings = self.enforce_schema(features)
        try:
            result = self._predict(features)
            if explain:
                result["explanations"] = self.explainer().explain(features, top=explain)
        except DataError as exc:  # the request's values (e.g. a forecast date that is not one)
            raise InvalidRequestError(str(exc)) from exc
        if warnings:
            result["warnings"] = warnings
        return result

    def explainer(self) -> Any:
        """The SHAP explainer of the model, built on first use.

        Raises:
            InvalidRequestError: shap is not installed on the server.
        """
        with self._explainer_lock:
            if self._explainer is None:
                from headway.evaluation.explain import Explainer
                from headway.exceptions import ConfigError

                try:
                    self._explainer = Explainer(self.estimator)
                except ConfigError as exc:
                    raise InvalidRequestError(
                        f"explanations are not available on this server: {exc}"
                    ) from exc
            return self._explainer

    def _predict(self, features: pd.DataFrame) -> dict[str, Any]:
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


def _training_schema(registry: ModelRegistry, run_id: str) -> DataSchema | None:
    """The ``schema.yaml`` logged with the run that trained the model, if any."""
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_run_artifact(run_id, layout.SCHEMA.path, tmp)
        # None: a model trained before schemas were logged.
        return load_schema(Path(path)) if path is not None else None
