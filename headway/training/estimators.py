"""Small scikit-learn adapters that the registered models may contain."""

from __future__ import annotations

from typing import Any

import numpy as np
from xgboost import XGBClassifier

__all__ = ["XGBLabelClassifier"]


class XGBLabelClassifier(XGBClassifier):
    """An XGBoost classifier that takes and returns the original class labels.

    XGBoost wants labels 0..k-1; this encodes them in :meth:`fit` (``eval_set`` too) and
    decodes :meth:`predict`, so that it behaves like every other scikit-learn classifier.
    """

    labels_: np.ndarray

    def fit(self, X: Any, y: Any, **kwargs: Any) -> XGBLabelClassifier:
        if hasattr(self, "labels_"):
            del self.labels_
        labels, encoded = np.unique(np.asarray(y), return_inverse=True)
        if kwargs.get("eval_set"):
            kwargs["eval_set"] = [
                (xv, np.searchsorted(labels, np.asarray(yv))) for xv, yv in kwargs["eval_set"]
            ]
        super().fit(X, encoded, **kwargs)
        self.labels_ = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = getattr(self, "labels_", None)
        return labels if labels is not None else np.arange(self.n_classes_)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        encoded = np.asarray(super().predict(X, **kwargs)).astype(int)
        return np.asarray(self.classes_)[encoded]
