"""Behavioural tests of a trained model (CheckList-style), the checks a reviewer runs
before trusting it beyond its holdout metrics.

On a seeded sample of test rows, :func:`behaviour_checks` asks:

- ``determinism``: do the same rows give the same scores twice, and in any order?
- ``invariance:<column>``: does a column that must not matter (an id-like or sensitive
  column) leave the scores unchanged when its values are shuffled among the rows?
- ``monotonic:<column>:<direction>``: does raising a numeric feature by one interquartile
  range move every score the expected way (binary: the positive-class probability;
  regression and forecast: the value)?
- ``edge:missing_values``, ``edge:unseen_categories``, ``edge:extreme_values``: does the
  model still give finite, well-formed scores for all-missing inputs, never-seen
  categories and numbers far outside the observed range? A crash is a failed check.

"Scores" are those of :func:`headway.evaluation.metrics.predict_scores`: the
positive-class probability (binary), the probability matrix (multiclass) or the value
(regression, forecast).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from headway.artifacts import TrainedModel
from headway.evaluation.metrics import predict_scores
from headway.exceptions import ConfigError
from headway.features.contract import feature_frame, model_pipeline
from headway.tasks import NUMERIC_TASKS, TASK_METRICS

__all__ = ["UNSEEN_CATEGORY", "BehaviourCheck", "Direction", "behaviour_checks"]

Direction = Literal["increasing", "decreasing"]

UNSEEN_CATEGORY = "__headway_unseen__"
# Largest score change that counts as "no change" (probabilities; regression scales it by
# the standard deviation of the scores) and largest move against a monotonic expectation.
_INVARIANCE_TOLERANCE = 1e-6
_MONOTONIC_TOLERANCE = 1e-6
# Probabilities may miss [0, 1] and a sum of 1 by rounding (float32 models).
_PROBABILITY_SLACK = 1e-6
_EXTREME_IQRS = 10.0


@dataclass(frozen=True)
class BehaviourCheck:
    """The outcome of one behavioural check.

    Attributes:
        name: ``determinism``, ``invariance:<column>``, ``monotonic:<column>:<direction>``
            or ``edge:<case>``.
        passed: Whether the model behaved as expected.
        detail: What was measured (the largest change, the share of rows affected, the
            exception of a crash), in one line.
        failing_rows: How many sampled rows broke the expectation (all of them when
            scoring crashed).
    """

    name: str
    passed: bool
    detail: str
    failing_rows: int = 0


def behaviour_checks(
    model: TrainedModel,
    frame: pd.DataFrame,
    *,
    task: str,
    invariant_columns: Sequence[str] = (),
    monotonic: Mapping[str, Direction] | None = None,
    n_rows: int = 200,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> list[BehaviourCheck]:
    """Run the behavioural checks of ``model`` on a seeded sample of ``frame``.

    Args:
        model: The trained model.
        frame: Test rows with the raw columns (the model's inputs, and any
            ``invariant_columns`` that are not inputs).
        task: ``binary``, ``multiclass``, ``regression`` or ``forecast``.
        invariant_columns: Columns that must not change the scores; one that is not a
            model input passes with ``not a model input``.
        monotonic: Numeric features and the direction the score must move when the
            feature is raised by one interquartile range of its values in ``frame`` (the
            standard deviation, or 1, when the IQR is 0). Not for multiclass.
        n_rows: How many rows of ``frame`` to sample (all of them when fewer).
        seed: Seed of the sample and of the permutations.
        tolerance: Largest per-row score difference between scoring the rows in their
            order and in reverse order.

    Returns:
        The checks in this order: ``determinism``, ``invariance:*`` (in the order given),
        ``monotonic:*`` (in the order given), ``edge:missing_values``,
        ``edge:unseen_categories``, ``edge:extreme_values``.

    Raises:
        ValueError: An unknown ``task``, ``n_rows`` < 1, an empty ``frame``, a model
            input missing from ``frame``, or ``monotonic`` given for a multiclass task.
        ConfigError: An ``invariant_columns`` entry that is neither a model input nor a
            column of ``frame``; a ``monotonic`` column that is not a numeric model input
            or whose direction is not ``increasing`` / ``decreasing``.
        Exception: Whatever the estimator raises when it cannot score the sampled rows
            as they are (the edge cases catch crashes; ordinary rows must score).
    """
    monotonic = dict(monotonic or {})
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASK_METRICS)}")
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if len(frame) == 0:
        raise ValueError("behaviour checks need at least one row; the frame is empty")
    missing = [c for c in model.feature_columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame lacks model input column(s) {', '.join(map(repr, missing))}; give "
            "the test rows with their raw columns"
        )
    _check_invariant_columns(model, frame, invariant_columns)
    _check_monotonic(model, frame, monotonic, task)

    rows = frame.sample(n=n_rows, random_state=seed) if len(frame) > n_rows else frame
    rng = np.random.default_rng(seed)
    base = _scores(model, rows, task)
    checks = [_determinism(model, rows, task, base, tolerance)]
    checks += [_invariance(model, rows, task, base, c, rng) for c in invariant_columns]
    checks += [
        _monotonic(model, frame, rows, task, base, column, direction)
        for column, direction in monotonic.items()
    ]
    optional = _optional_features(model)
    checks.append(_edge_missing(model, rows, task, optional))
    checks.append(_edge_unseen(model, rows, task, optional))
    checks.append(_edge_extreme(model, frame, rows, task, optional))
    return checks


# -- validation of the configuration -------------------------------------------------------


def _hint(column: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(column, [str(c) for c in candidates], n=3)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _numeric_features(model: TrainedModel) -> list[str]:
    return [c for c in model.feature_columns if c not in model.categorical_columns]


def _check_invariant_columns(
    model: TrainedModel, frame: pd.DataFrame, columns: Sequence[str]
) -> None:
    known = [*model.feature_columns, *(c for c in frame.columns if c not in model.feature_columns)]
    for column in columns:
        if column not in model.feature_columns and column not in frame.columns:
            raise ConfigError(
                f"invariant column {column!r} (evaluation.invariant_columns in headway.yaml) "
                f"is neither a model input nor a column of the data.{_hint(column, known)}"
            )


def _check_monotonic(
    model: TrainedModel, frame: pd.DataFrame, monotonic: Mapping[str, str], task: str
) -> None:
    numeric = _numeric_features(model)
    for column, direction in monotonic.items():
        if column not in model.feature_columns:
            raise ConfigError(
                f"monotonic column {column!r} (evaluation.monotonic in headway.yaml) is not "
                f"a model input.{_hint(column, numeric)} Numeric inputs are: "
                f"{', '.join(numeric[:20]) or '(none)'}."
            )
        if column not in numeric:
            raise ConfigError(
                f"monotonic column {column!r} (evaluation.monotonic in headway.yaml) is "
                "categorical; monotonic expectations apply to numeric inputs only: "
                f"{', '.join(numeric[:20]) or '(none)'}."
            )
        if direction not in ("increasing", "decreasing"):
            raise ConfigError(
                f"monotonic direction {direction!r} of column {column!r} "
                "(evaluation.monotonic in headway.yaml) must be 'increasing' or 'decreasing'."
            )
        if task == "multiclass":
            raise ValueError(
                f"monotonic check of column {column!r} does not apply to a multiclass task: "
                "there is no single score to move; remove it from evaluation.monotonic"
            )
        if _numbers(frame[column]).size == 0:
            raise ConfigError(
                f"monotonic column {column!r} (evaluation.monotonic in headway.yaml) has no "
                "numeric values in the data to measure its spread on."
            )


# -- scoring ------------------------------------------------------------------------------


def _raw_scores(model: TrainedModel, rows: pd.DataFrame, task: str) -> np.ndarray:
    return predict_scores(model, feature_frame(rows, model), task)


def _scores(model: TrainedModel, rows: pd.DataFrame, task: str) -> np.ndarray:
    """Positive-class probability (binary), probability matrix (multiclass), or value."""
    raw = _raw_scores(model, rows, task)
    return raw[:, 1] if task == "binary" and raw.ndim == 2 else raw


def _row_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row largest absolute difference of two score arrays (NaN differences are inf)."""
    diff = np.abs(a - b)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)
    return diff.max(axis=1) if diff.ndim == 2 else diff


def _numbers(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _spread(values: np.ndarray) -> float:
    """The interquartile range, else the standard deviation, else 1."""
    q1, q3 = np.percentile(values, [25, 75])
    for spread in (float(q3 - q1), float(np.std(values))):
        if spread > 0 and math.isfinite(spread):
            return spread
    return 1.0


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} rows ({100 * count / total:.1f}%)"


# -- determinism and invariance ------------------------------------------------------------


def _determinism(
    model: TrainedModel, rows: pd.DataFrame, task: str, base: np.ndarray, tolerance: float
) -> BehaviourCheck:
    n = len(rows)
    again = _scores(model, rows, task)
    reverse = _scores(model, rows.iloc[::-1], task)[::-1]
    repeat_change = _row_change(base, again)
    order_change = _row_change(base, reverse)
    n_repeat = int((repeat_change > 0).sum())
    n_order = int((order_change > tolerance).sum())
    max_repeat, max_order = float(repeat_change.max()), float(order_change.max())
    passed = n_repeat == 0 and n_order == 0
    if passed:
        detail = (
            f"identical scores twice; reversed row order changes scores by at most "
            f"{max_order:.3g} (tolerance {tolerance:g})"
        )
    else:
        parts = []
        if n_repeat:
            parts.append(
                f"scoring the same rows twice changed {_pct(n_repeat, n)}, max change "
                f"{max_repeat:.3g}"
            )
        if n_order:
            parts.append(
                f"reversing the row order changed {_pct(n_order, n)} by more than "
                f"{tolerance:g}, max change {max_order:.3g}"
            )
        detail = "; ".join(parts)
    return BehaviourCheck("determinism", passed, detail, max(n_repeat, n_order))


def _invariance(
    model: TrainedModel,
    rows: pd.DataFrame,
    task: str,
    base: np.ndarray,
    column: str,
    rng: np.random.Generator,
) -> BehaviourCheck:
    name = f"invariance:{column}"
    if column not in model.feature_columns:
        return BehaviourCheck(name, True, "not a model input")
    n = len(rows)
    order = rng.permutation(n)
    values = rows[column]
    shuffled = values.iloc[order].set_axis(rows.index)
    moved = int((~_same_values(values, shuffled)).sum())
    if moved == 0:
        return BehaviourCheck(
            name, True, "the column has a single value among the sampled rows; nothing to permute"
        )
    changed = rows.copy()
    changed[column] = shuffled
    change = _row_change(base, _scores(model, changed, task))
    limit = _INVARIANCE_TOLERANCE
    if task in NUMERIC_TASKS:
        finite = base[np.isfinite(base)]
        std = float(np.std(finite)) if finite.size else 0.0
        limit = max(_INVARIANCE_TOLERANCE * std, 1e-12)
    failing = int((change > limit).sum())
    detail = (
        f"permuting {column!r} among {n} rows ({moved} values moved): max change "
        f"{float(change.max()):.4g}, {_pct(failing, n)} changed by more than {limit:.3g}"
    )
    return BehaviourCheck(name, failing == 0, detail, failing)


def _same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    left, right = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    both_missing = pd.isna(a).to_numpy() & pd.isna(b).to_numpy()
    return np.asarray([x == y for x, y in zip(left, right, strict=True)], dtype=bool) | both_missing


# -- monotonicity ---------------------------------------------------------------------------


def _monotonic(
    model: TrainedModel,
    frame: pd.DataFrame,
    rows: pd.DataFrame,
    task: str,
    base: np.ndarray,
    column: str,
    direction: str,
) -> BehaviourCheck:
    name = f"monotonic:{column}:{direction}"
    step = _spread(_numbers(frame[column]))
    changed = rows.copy()
    changed[column] = pd.to_numeric(rows[column], errors="coerce").astype("float64") + step
    move = _scores(model, changed, task) - base
    sign = 1.0 if direction == "increasing" else -1.0
    against = -sign * move  # > 0 where the score moved the wrong way
    against = np.where(np.isnan(against), np.inf, against)
    present = pd.to_numeric(rows[column], errors="coerce").notna().to_numpy()
    against = np.where(present, against, -np.inf)  # a missing value is not raised
    failing = int((against > _MONOTONIC_TOLERANCE).sum())
    n = len(rows)
    worst = float(np.max(against)) if present.any() else 0.0
    what = "up" if direction == "increasing" else "down"
    moved = move[present & np.isfinite(move)]
    mean = f"{float(moved.mean()):+.4g}" if moved.size else "n/a"
    detail = (
        f"raising {column!r} by {step:.4g} (one IQR) for {int(present.sum())} rows with a "
        f"value: expected scores to go {what}; mean move {mean}; "
        f"{_pct(failing, n)} moved the other way by more than {_MONOTONIC_TOLERANCE:g}"
    )
    if failing:
        detail += f", worst by {worst:.4g}"
    return BehaviourCheck(name, failing == 0, detail, failing)


# -- edge cases -----------------------------------------------------------------------------


def _optional_features(model: TrainedModel) -> list[str]:
    """The inputs a row may lack: all but a forecasting model's series and timestamp."""
    try:
        front = model_pipeline(model.estimator).named_steps.get("forecast")
    except ValueError:
        front = None
    required: set[str] = set()
    if front is not None:
        required = {*getattr(front, "series_columns", ()), getattr(front, "timestamp_column", "")}
    return [c for c in model.feature_columns if c not in required]


def _well_formed(model: TrainedModel, scores: np.ndarray, n: int, task: str) -> str | None:
    """Why ``scores`` are not valid scores of ``n`` rows, or None when they are."""
    if task in NUMERIC_TASKS:
        if scores.shape != (n,):
            return f"expected {n} values, got shape {scores.shape}"
    else:
        k = len(model.classes) if model.classes else None
        if scores.ndim != 2 or scores.shape[0] != n or (k is not None and scores.shape[1] != k):
            return f"expected shape ({n}, {k or 'k'}), got {scores.shape}"
    bad = ~np.isfinite(scores)
    if bad.any():
        rows = int(bad.any(axis=1).sum()) if bad.ndim == 2 else int(bad.sum())
        return f"non-finite scores in {_pct(rows, n)}"
    if task not in NUMERIC_TASKS:
        low, high = float(scores.min()), float(scores.max())
        if low < -_PROBABILITY_SLACK or high > 1 + _PROBABILITY_SLACK:
            return f"probabilities outside [0, 1]: min {low:.4g}, max {high:.4g}"
        sums = scores.sum(axis=1)
        worst = float(np.max(np.abs(sums - 1)))
        if worst > _PROBABILITY_SLACK:
            return f"probabilities of a row do not sum to 1 (off by up to {worst:.3g})"
    return None


def _failing_count(scores: np.ndarray) -> int:
    bad = ~np.isfinite(scores)
    return int(bad.any(axis=1).sum()) if bad.ndim == 2 else int(bad.sum())


def _edge(
    name: str,
    model: TrainedModel,
    variants: Sequence[pd.DataFrame],
    task: str,
    what: str,
) -> BehaviourCheck:
    """Score each variant of the rows; a crash or malformed scores fail the check."""
    for variant in variants:
        n = len(variant)
        try:
            scores = _raw_scores(model, variant, task)
        except Exception as exc:  # a crash is the failure being tested
            message = " ".join(str(exc).split())[:300]
            return BehaviourCheck(name, False, f"{what}: {type(exc).__name__}: {message}", n)
        problem = _well_formed(model, scores, n, task)
        if problem is not None:
            failing = _failing_count(scores) if scores.shape[:1] == (n,) else n
            return BehaviourCheck(name, False, f"{what}: {problem}", failing or n)
    return BehaviourCheck(name, True, f"{what}: finite, well-formed scores")


def _edge_missing(
    model: TrainedModel, rows: pd.DataFrame, task: str, optional: list[str]
) -> BehaviourCheck:
    name = "edge:missing_values"
    if not optional:
        return BehaviourCheck(name, True, "no optional inputs to leave missing")
    changed = rows.copy()
    for column in optional:
        changed[column] = np.nan
    what = f"all {len(optional)} optional inputs missing in {len(rows)} rows"
    return _edge(name, model, [changed], task, what)


def _edge_unseen(
    model: TrainedModel, rows: pd.DataFrame, task: str, optional: list[str]
) -> BehaviourCheck:
    name = "edge:unseen_categories"
    columns = [c for c in optional if c in model.categorical_columns]
    if not columns:
        return BehaviourCheck(name, True, "no categorical inputs")
    changed = rows.copy()
    for column in columns:
        changed[column] = UNSEEN_CATEGORY
    what = f"{len(columns)} categorical inputs set to {UNSEEN_CATEGORY!r}"
    return _edge(name, model, [changed], task, what)


def _edge_extreme(
    model: TrainedModel, frame: pd.DataFrame, rows: pd.DataFrame, task: str, optional: list[str]
) -> BehaviourCheck:
    name = "edge:extreme_values"
    bounds: dict[str, tuple[float, float]] = {}
    for column in (c for c in optional if c not in model.categorical_columns):
        values = _numbers(frame[column])
        if values.size:
            spread = _EXTREME_IQRS * _spread(values)
            bounds[column] = (float(values.min()) - spread, float(values.max()) + spread)
    if not bounds:
        return BehaviourCheck(name, True, "no numeric inputs with observed values")
    variants: list[pd.DataFrame] = []
    for side in (0, 1):
        changed = rows.copy()
        for column, pair in bounds.items():
            changed[column] = pair[side]
        variants.append(changed)
    what = (
        f"{len(bounds)} numeric inputs at their observed min - {_EXTREME_IQRS:g} IQR "
        f"and max + {_EXTREME_IQRS:g} IQR"
    )
    return _edge(name, model, variants, task, what)
