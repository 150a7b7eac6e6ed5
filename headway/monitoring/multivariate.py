"""A multivariate drift check: PCA reconstruction error (as NannyML's data reconstruction
drift does), for a shift no single column shows, such as two columns that stop moving
together.

The reference sample is split in two halves (seeded): PCA, keeping the components that
explain ``variance`` of the encoded inputs, is fitted on the first; chunks of the second
half as large as the window give the error's spread without drift. A window drifts when
its mean reconstruction error exceeds the chunks' mean by ``z`` standard deviations.

Encoding: numeric columns have their nulls filled with the reference median and are
standardised; categorical columns are one-hot encoded (their 20 most frequent values, the
rest and unseen values in one column, nulls as a value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["ReconstructionCheck", "fit_reconstruction"]

_MIN_ROWS = 200


def _text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame[list(columns)].astype(object)
    return out.where(out.notna(), "(null)").astype(str)


@dataclass
class ReconstructionCheck:
    """A fitted reconstruction check (see the module's docstring)."""

    numeric: list[str]
    categorical: list[str]
    encoder: Any
    pca: PCA
    held_out: pd.DataFrame
    seed: int

    def errors(self, frame: pd.DataFrame) -> np.ndarray:
        """The reconstruction error of each row of ``frame``."""
        data = frame[self.numeric].apply(pd.to_numeric, errors="coerce").astype(float)
        if self.categorical:
            data = pd.concat([data, _text(frame, self.categorical)], axis=1)
        encoded = np.asarray(self.encoder.transform(data), dtype=float)
        rebuilt = self.pca.inverse_transform(self.pca.transform(encoded))
        return np.sqrt(np.sum((encoded - rebuilt) ** 2, axis=1))

    def check(
        self, frame: pd.DataFrame, *, alpha: float = 0.01, chunks: int = 40
    ) -> dict[str, Any]:
        """The window's verdict: ``statistic`` (mean error), ``threshold``, ``drifted``."""
        statistic = float(np.mean(self.errors(frame)))
        rng = np.random.default_rng(self.seed)
        size = min(len(frame), len(self.held_out))
        held = self.errors(self.held_out)
        means = [
            float(np.mean(held[rng.choice(len(held), size, replace=False)])) for _ in range(chunks)
        ]
        z = float(stats.norm.isf(alpha))
        threshold = float(np.mean(means) + z * np.std(means, ddof=1))
        return {
            "method": "pca_reconstruction",
            "statistic": statistic,
            "threshold": threshold,
            "reference_mean": float(np.mean(means)),
            "drifted": bool(statistic > threshold),
            "components": int(self.pca.n_components_),
            "rows": len(frame),
        }


def fit_reconstruction(
    sample: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    variance: float = 0.65,
    seed: int = 0,
) -> ReconstructionCheck | None:
    """Fit the check on a reference sample; ``None`` when the sample is too small
    (fewer than 200 rows) or has fewer than two encoded columns."""
    numeric = [c for c in numeric if c in sample.columns]
    categorical = [c for c in categorical if c in sample.columns]
    if len(sample) < _MIN_ROWS or len(numeric) + len(categorical) < 2:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sample))
    half = len(sample) // 2
    fit_rows, held_rows = sample.iloc[order[:half]], sample.iloc[order[half:]]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts.append(
            (
                "numeric",
                Pipeline([("fill", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                numeric,
            )
        )
    if categorical:
        parts.append(
            (
                "categorical",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", max_categories=21, sparse_output=False
                ),
                categorical,
            )
        )
    encoder = ColumnTransformer(parts, sparse_threshold=0.0)
    data = fit_rows[numeric].apply(pd.to_numeric, errors="coerce").astype(float)
    if categorical:
        data = pd.concat([data, _text(fit_rows, categorical)], axis=1)
    encoded = np.asarray(encoder.fit_transform(data), dtype=float)
    if encoded.shape[1] < 2:
        return None
    pca = PCA(n_components=variance, svd_solver="full", random_state=seed).fit(encoded)
    return ReconstructionCheck(numeric, categorical, encoder, pca, held_rows, seed)
