"""Attribution drift: is the model leaning on different inputs than it did?

The mean absolute SHAP value of each input column on a seeded sample of the window is set
against the same on the reference sample (the model's own explainer,
:class:`headway.evaluation.explain.Explainer`). A column whose share of the total
attribution grows is one the model now relies on more: a drifted column the model leans on
matters, one it ignores does not. The summary ``distance`` is the total variation between
the two sets of shares (0: same reliance, 1: disjoint); it is reported, not alarmed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["attribution_drift"]


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), rows, replace=False))
    return frame.iloc[keep]


def attribution_drift(
    explainer: Any,
    reference: pd.DataFrame,
    window: pd.DataFrame,
    features: Sequence[str],
    *,
    rows: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean |SHAP| per input column on the reference sample and on the window.

    Args:
        explainer: an object with ``importance(frame) -> {column: mean |SHAP|}``.
        reference: the reference sample (inputs among its columns).
        window: the window's inputs.
        features: the model's input columns.
        rows: rows sampled from each side.
        seed: seed of the samples.
    """
    columns = list(features)
    before = explainer.importance(_sample(reference[columns], rows, seed))
    after = explainer.importance(_sample(window[columns], rows, seed))
    total_before = sum(before.values()) or 1.0
    total_after = sum(after.values()) or 1.0
    out: list[dict[str, Any]] = []
    for column in columns:
        a, b = float(before.get(column, 0.0)), float(after.get(column, 0.0))
        out.append(
            {
                "column": column,
                "reference": a,
                "window": b,
                "share_reference": a / total_before,
                "share_window": b / total_after,
                "change": b - a,
            }
        )
    out.sort(key=lambda c: -abs(c["share_window"] - c["share_reference"]))
    distance = 0.5 * sum(abs(c["share_window"] - c["share_reference"]) for c in out)
    return {
        "method": "mean |SHAP| shares",
        "rows": [min(rows, len(reference)), min(rows, len(window))],
        "distance": float(distance),
        "columns": out,
    }
