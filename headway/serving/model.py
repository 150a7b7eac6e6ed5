"""A registered model loaded for serving: input checks and predictions with probabilities."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headway.data.schema import DataSchema, load_schema
from headway.exceptions import DataError, InvalidRequestError, ServingError
from headway.features.contract import FeatureTypes, feature_types_of
from headway.registry import ModelRegistry, layout
from headway.serving.checks import check_request
from headway.serving.fastpath import compile_scorer

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
    scorer: Any = field(default=None, repr=False)
    load_seconds: float = 0.0
    """How long :meth:`load` took (registry lookups, download, unpickling, compiling)."""
    """The compiled NumPy scorer (:mod:`headway.serving.fastpath`); ``None``: the
    estimator scores every request."""
    _explainer: Any = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def never_null(self) -> frozenset[str]:
        """The columns the training schema refuses nulls in (under ``checks.nulls: error``)."""
        schema = self.schema
        if schema is None or schema.checks.nulls != "error":
            return frozenset()
        return frozenset(name for name, spec in schema.columns.items() if not spec.nullable)

    @classmethod
    def load(cls, uri: str, registry: ModelRegistry) -> ServedModel:
        """Load ``uri`` (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``) from ``registry``.

        Raises:
            ModelNotFoundError: nothing is registered under ``uri``.
            ServingError: the model is not a headway model pipeline.
        """
        started = time.perf_counter()
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
        scorer = compile_scorer(estimator)
        return cls(
            uri,
            name,
            version,
            estimator,
            types,
            schema,
            scorer,
            load_seconds=time.perf_counter() - started,
        )

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """The model's input columns of a request, typed as in training and checked against
        the training schema's rules (see :mod:`headway.serving.checks`).

        Returns the features and the warnings of the rules of severity ``warn``.

        Raises:
            InvalidRequestError: a feature column is missing, a number is not finite, or a
                rule of severity ``error`` fails; names column and row.
        """
        return check_request(frame, self.types, self.schema)

    def predict(self, frame: pd.DataFrame, *, explain: int = 0) -> dict[str, Any]:
        """Predictions for a request frame: labels or values, class probabilities, and the
        schema warnings of the request (if any); with ``explain`` > 0, also the SHAP
        contributions of that many input columns per row (largest first, signed, for the
        model's raw output: log-odds for boosting, probability for forests)."""
        features, warnings = self.prepare(frame)
        try:
            result = self._predict(features)
            if explain:
                result["explanations"] = self.explainer().explain(features, top=explain)
        except DataError as exc:  # the request's values (e.g. a forecast date that is not one)
            raise InvalidRequestError(str(exc)) from exc
        if warnings:
            result["warnings"] = warnings
        return result

    def predict_clean(self, columns: dict[str, np.ndarray]) -> dict[str, Any]:
        """Predictions for typed feature columns that passed the request checks
        (:meth:`headway.serving.fastcheck.FastChecker.clean`), as :meth:`predict` gives."""
        if self.scorer is not None:
            return dict(self.scorer.predict(columns))
        frame = pd.DataFrame(columns, copy=False)[list(self.types.columns)]
        return self._predict(frame)

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
