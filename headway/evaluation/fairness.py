"""Group fairness of a model's holdout predictions, with fairlearn, and how sure it is.

For one sensitive column (region, age, ...) the report gives the demographic parity
difference (the largest gap in selection rate between two groups), for binary tasks the
equalized odds difference (the larger of the gaps in true and false positive rate), each
with a 95% bootstrap interval, and the per-group metrics behind them. What "selected"
means depends on the task:

- binary: the positive-class probability is at or above the decision threshold;
- multiclass: the model predicts a given class (a selection rate per class; the parity
  difference is the largest over classes, equalized odds is not defined);
- regression and forecast: the prediction is above the median of all predictions.

So that one tiny group cannot decide a gate:

- **Minimum group size.** Groups with fewer than ``min_group_size`` rows (default 30) are
  reported, with their size and rates, but left out of the gaps (``excluded_groups``).
  With fewer than two groups left a gap is undefined: it is NaN, and ``undefined`` says
  why; the gate records "not enough data" and does not block.
- **Missing values**, explicitly: with ``missing="group"`` (the default) they form a group
  of their own, ``"(missing)"``, which the minimum size applies to like any other; with
  ``missing="exclude"`` their rows are left out of the report. ``missing_rows`` counts
  them either way. Missingness of a sensitive attribute is often not random, so by default
  it stays visible.
- **Numeric columns** with more distinct values than ``bins`` are cut at their quantiles
  (quartiles by default) into groups labelled ``"[18, 31)"`` (the last one closed,
  ``"[60, 90]"``), never one group per value; ``bin_edges`` records the cuts. A numeric
  column with few values (a 0/1 flag) keeps one group per value.
- **A bootstrap interval on each gap.** Each resample draws every gated group's rows with
  replacement within the group (so group sizes stay as observed) and recomputes the gap;
  the interval is the 2.5 and 97.5 percentiles over ``n_boot`` seeded resamples. The
  decision rule (threshold, median) stays fixed across resamples. A gap is never
  negative, so its interval sits above 0 even for a fair model.

In the gaps, a group whose true (or false) positive rate is undefined (no positive, or
no negative, row) is left out of that rate's gap. fairlearn is a dependency of headway; it
is imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from headway.exceptions import ConfigError
from headway.tasks import NUMERIC_TASKS

__all__ = ["MISSING_GROUP", "FairnessReport", "check_sensitive_columns", "fairness_report"]

MISSING_GROUP = "(missing)"
PARITY = "demographic_parity_difference"
ODDS = "equalized_odds_difference"

# counts of each cell (see _Scored.cells) per resample and group, [..., G, C] -> gaps [...]
_Gaps = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of a model's predictions across the groups of one sensitive column.

    Attributes:
        column: The sensitive column.
        demographic_parity_difference: The largest difference in selection rate between
            two gated groups (0 is parity); for multiclass the largest over predicted
            classes. NaN when fewer than two groups are gated (see ``undefined``).
        equalized_odds_difference: Binary tasks: the larger of the largest differences in
            true positive rate and in false positive rate between two gated groups (NaN
            when undefined); ``None`` for other tasks.
        by_group: Every group, gated or not (categories sorted, bins in order, the missing
            group first): ``n`` and ``selection_rate`` (multiclass:
            ``selection_rate[CLASS]`` per class, and ``accuracy``); binary tasks add
            ``true_positive_rate`` and ``false_positive_rate`` (when the group has both
            labels to rate), ``accuracy`` and ``roc_auc`` (when the group has both
            labels); regression adds ``mean_prediction`` and ``mae``.
        demographic_parity_difference_interval: Its 95% bootstrap interval ``(low,
            high)``; ``None`` without resamples or when the gap is undefined.
        equalized_odds_difference_interval: The same for equalized odds.
        min_group_size: Groups with fewer rows are not gated.
        gated_groups: The groups the gaps are computed over.
        excluded_groups: The groups too small to be gated (reported in ``by_group``).
        missing: ``group`` or ``exclude``: what was done with missing values.
        missing_rows: Rows with a missing value of the column.
        bin_edges: The quantile cuts of a numeric column, or ``None``.
        undefined: Why a gap is undefined (NaN), by gap name.
    """

    column: str
    demographic_parity_difference: float
    equalized_odds_difference: float | None
    by_group: dict[str, dict[str, float]]
    demographic_parity_difference_interval: tuple[float, float] | None = None
    equalized_odds_difference_interval: tuple[float, float] | None = None
    min_group_size: int = 1
    gated_groups: tuple[str, ...] = ()
    excluded_groups: tuple[str, ...] = ()
    missing: str = "group"
    missing_rows: int = 0
    bin_edges: tuple[float, ...] | None = None
    undefined: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class _Grouping:
    """Each row's group; ``keep`` marks the rows in the report, ``order`` the groups' order."""

    labels: np.ndarray
    keep: np.ndarray
    order: list[str]
    missing_rows: int
    bin_edges: tuple[float, ...] | None


@dataclass(frozen=True)
class _Scored:
    """One task's per-group tables, and what its gaps need: a cell per row (e.g. predicted
    positive and truly negative), the number of cells, the gaps as a function of the counts
    of each cell per group."""

    tables: list[pd.DataFrame]
    cells: np.ndarray
    n_cells: int
    gaps: _Gaps


def _fairlearn_metrics() -> Any:
    try:
        return importlib.import_module("fairlearn.metrics")
    except ImportError as exc:
        raise ConfigError("fairness reports need fairlearn: pip install 'fairlearn>=0.13'") from exc


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _edge(value: float) -> str:
    return f"{value:.6g}"


def _bin_labels(edges: np.ndarray) -> list[str]:
    last = len(edges) - 2
    return [
        f"[{_edge(lo)}, {_edge(hi)}{']' if i == last else ')'}"
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]


def _groups(values: pd.Series, *, missing: str, bins: int) -> _Grouping:
    """The group of each row: a category as a string, or a quantile bin of a numeric
    column with more than ``bins`` distinct values; missing values per ``missing``."""
    absent = values.isna().to_numpy()
    present = values[~absent]
    labels = np.full(len(values), MISSING_GROUP, dtype=object)
    edges: tuple[float, ...] | None = None
    if _is_numeric(values) and present.nunique() > bins:
        x = present.to_numpy(dtype=float)
        cuts = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
        names = _bin_labels(cuts)
        labels[~absent] = np.asarray(names, dtype=object)[
            np.searchsorted(cuts[1:-1], x, side="right")
        ]
        seen = set(labels[~absent])
        order = [MISSING_GROUP] + [n for n in names if n in seen]
        edges = tuple(float(c) for c in cuts)
    else:
        labels[~absent] = present.astype(str).to_numpy(dtype=object)
        order = sorted(set(labels))
    keep = ~absent if missing == "exclude" else np.ones(len(values), dtype=bool)
    order = [g for g in order if g != MISSING_GROUP or (absent.any() and missing == "group")]
    return _Grouping(labels, keep, order, int(absent.sum()), edges)


def _guarded(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    """A metric that gives NaN where it is undefined for a group (one label only)."""

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if len(np.unique(y_true)) < 2:
            return float("nan")
        return float(fn(np.asarray(y_true), np.asarray(y_pred)))

    return metric


def _rate(y_true: np.ndarray, y_pred: np.ndarray, label: int) -> float:
    """Share of the rows with true label ``label`` that are predicted positive."""
    mask = np.asarray(y_true) == label
    return float(np.mean(np.asarray(y_pred)[mask])) if mask.any() else float("nan")


def _count(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(len(y_true))


def _by_group(frames: Iterable[pd.DataFrame], order: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-group metric tables merged into ``{group: {metric: value}}`` in ``order``, NaNs
    left out."""
    out: dict[str, dict[str, float]] = {}
    for table in frames:
        for group, row in table.iterrows():
            values = out.setdefault(str(group), {})
            values.update({str(k): float(v) for k, v in row.items() if pd.notna(v)})
    return {g: out[g] for g in order if g in out}


# --- gaps and their bootstrap -----------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0."""
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest rate over the last axis (groups), leaving out undefined
    rates; NaN where fewer than two groups have a rate."""
    defined = np.isfinite(rates)
    high = np.where(defined, rates, -np.inf).max(axis=-1, initial=-np.inf)
    low = np.where(defined, rates, np.inf).min(axis=-1, initial=np.inf)
    return np.where(defined.sum(axis=-1) >= 2, high - low, np.nan)


def _binary_gaps(counts: np.ndarray) -> dict[str, np.ndarray]:
    # cells: 0 true negative, 1 false negative, 2 false positive, 3 true positive
    tn, fn, fp, tp = (counts[..., i] for i in range(4))
    selection = _ratio(fp + tp, counts.sum(axis=-1))
    tpr, fpr = _ratio(tp, tp + fn), _ratio(fp, fp + tn)
    return {PARITY: _spread(selection), ODDS: np.fmax(_spread(tpr), _spread(fpr))}


def _multiclass_gaps(counts: np.ndarray) -> dict[str, np.ndarray]:
    # cells: the predicted class; the parity gap of each class, then the largest
    selection = _ratio(counts, counts.sum(axis=-1, keepdims=True))
    per_class = _spread(np.moveaxis(selection, -1, -2))
    return {PARITY: np.fmax.reduce(per_class, axis=-1)}


def _selection_gaps(counts: np.ndarray) -> dict[str, np.ndarray]:
    # cells: 0 not selected, 1 selected
    return {PARITY: _spread(_ratio(counts[..., 1], counts.sum(axis=-1)))}


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


def _gaps_with_intervals(
    scored: _Scored, labels: np.ndarray, gated: Sequence[str], *, n_boot: int, seed: int
) -> dict[str, tuple[float, tuple[float, float] | None]]:
    """Each gap over the ``gated`` groups, with its interval from ``n_boot`` resamples of
    each group's rows (a multinomial draw of the group's cell counts: the same as drawing
    its rows with replacement)."""
    counts = np.stack(
        [np.bincount(scored.cells[labels == g], minlength=scored.n_cells) for g in gated]
    )
    with np.errstate(invalid="ignore"):
        estimates = scored.gaps(counts[np.newaxis])
        resampled = None
        if n_boot > 0:
            rng = np.random.default_rng(seed)
            draws = [rng.multinomial(row.sum(), row / row.sum(), size=n_boot) for row in counts]
            resampled = scored.gaps(np.stack(draws, axis=1))
    return {
        name: (
            float(value[0]),
            _interval(resampled[name]) if resampled is not None and np.isfinite(value[0]) else None,
        )
        for name, value in estimates.items()
    }


# --- the report -------------------------------------------------------------------------


def fairness_report(
    task: str,
    frame: pd.DataFrame,
    y_true: np.ndarray | pd.Series,
    scores: np.ndarray,
    *,
    column: str,
    classes: np.ndarray | list[Any] | tuple[Any, ...] | None = None,
    threshold: float | None = None,
    min_group_size: int = 30,
    missing: Literal["group", "exclude"] = "group",
    bins: int = 4,
    n_boot: int = 200,
    seed: int = 0,
) -> FairnessReport:
    """Fairness of ``scores`` across the groups of ``frame[column]``.

    Args:
        task: ``binary``, ``multiclass``, ``regression`` or ``forecast``.
        frame: The rows scored, holding ``column`` (in the order of ``y_true``).
        y_true: The true labels or values.
        scores: As :func:`headway.evaluation.predict_scores` returns them: class
            probabilities (``n x k``; a binary task also takes the positive-class
            probability alone) or predicted values.
        column: The sensitive column.
        classes: The class labels in the order of the score columns; default the sorted
            labels of ``y_true``. ``classes[1]`` is the positive class of a binary task.
        threshold: Binary: the decision threshold on the positive-class probability;
            default 0.5.
        min_group_size: Groups with fewer rows are reported but not gated
            (``evaluation.min_group_size``).
        missing: ``group``: missing values form the group ``"(missing)"``; ``exclude``:
            their rows are left out (``evaluation.sensitive_missing``).
        bins: A numeric column with more distinct values is cut into this many quantile
            bins (``evaluation.sensitive_bins``).
        n_boot: Bootstrap resamples of each gap's interval; 0 for none
            (``evaluation.bootstrap``).
        seed: Seed of the resampling.

    Returns:
        The report; see :class:`FairnessReport`.

    Raises:
        ConfigError: ``column`` is not in ``frame`` (see :func:`check_sensitive_columns`),
            or fairlearn is not installed.
        ValueError: ``frame``, ``y_true`` and ``scores`` differ in length, a binary task
            has other than 2 classes, ``task`` or ``missing`` is unknown, or
            ``min_group_size``, ``bins`` or ``n_boot`` is out of range.
    """
    check_sensitive_columns(frame.columns, [column])
    if missing not in ("group", "exclude"):
        raise ValueError(f"fairness_report: missing must be 'group' or 'exclude', got {missing!r}")
    if min_group_size < 1 or bins < 2 or n_boot < 0:
        raise ValueError(
            f"fairness_report: min_group_size {min_group_size} (at least 1), bins {bins} (at "
            f"least 2) and n_boot {n_boot} (at least 0) must be in range"
        )
    fm = _fairlearn_metrics()
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    if not len(frame) == len(y) == len(s):
        raise ValueError(
            f"fairness_report: {len(frame)} rows, {len(y)} labels and {len(s)} scores; "
            "they must be the same rows"
        )
    grouping = _groups(frame[column].reset_index(drop=True), missing=missing, bins=bins)
    keep = grouping.keep
    kept = grouping.labels[keep]
    if classes is None and task not in NUMERIC_TASKS:
        classes = np.unique(y)
    labels = np.asarray(classes)
    if task in NUMERIC_TASKS:
        # the median of all predictions: the rule does not depend on the missing handling
        above = (s > np.median(s)).astype(int) if len(s) else np.zeros(0, dtype=int)
        scored = _regression(fm, kept, y[keep].astype(float), s[keep], above[keep])
    elif task == "binary":
        cut = 0.5 if threshold is None else threshold
        scored = _binary(fm, kept, y[keep], s[keep], labels, cut)
    elif task == "multiclass":
        scored = _multiclass(fm, kept, y[keep], s[keep], labels)
    else:
        raise ValueError(f"fairness_report: unknown task {task!r}")
    by_group = _by_group(scored.tables, grouping.order)
    sizes = {g: int(np.sum(kept == g)) for g in grouping.order}
    gated = tuple(g for g in grouping.order if sizes[g] >= min_group_size)
    small = tuple(g for g in grouping.order if sizes[g] < min_group_size)
    names = (PARITY, ODDS) if task == "binary" else (PARITY,)
    undefined: dict[str, str] = {}
    results: dict[str, tuple[float, tuple[float, float] | None]]
    if len(gated) < 2:
        count = "no group has" if not gated else f"only {len(gated)} group has"
        why = f"{count} at least {min_group_size} rows"
        results = {name: (float("nan"), None) for name in names}
        undefined = dict.fromkeys(names, why)
    else:
        results = _gaps_with_intervals(scored, kept, gated, n_boot=n_boot, seed=seed)
        if task == "binary" and not np.isfinite(results[ODDS][0]):
            undefined[ODDS] = (
                "the true and false positive rates are each defined for fewer than two "
                f"groups of at least {min_group_size} rows"
            )
    parity, parity_interval = results[PARITY]
    odds, odds_interval = results.get(ODDS, (None, None))
    return FairnessReport(
        column=column,
        demographic_parity_difference=parity,
        equalized_odds_difference=odds,
        by_group=by_group,
        demographic_parity_difference_interval=parity_interval,
        equalized_odds_difference_interval=odds_interval,
        min_group_size=min_group_size,
        gated_groups=gated,
        excluded_groups=small,
        missing=missing,
        missing_rows=grouping.missing_rows,
        bin_edges=grouping.bin_edges,
        undefined=undefined,
    )


def _binary(
    fm: Any,
    groups: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray,
    threshold: float,
) -> _Scored:
    if len(classes) != 2:
        raise ValueError(f"fairness_report: a binary task needs 2 classes, got {len(classes)}")
    positive = s[:, 1] if s.ndim == 2 else s
    y_pos = (y == classes[1]).astype(int)
    y_pred = (positive >= threshold).astype(int)
    tables = []
    if len(y):
        sensitive = pd.Series(groups)
        tables = [
            fm.MetricFrame(
                metrics={
                    "n": _count,
                    "selection_rate": fm.selection_rate,
                    "true_positive_rate": lambda t, p: _rate(t, p, 1),
                    "false_positive_rate": lambda t, p: _rate(t, p, 0),
                    "accuracy": skm.accuracy_score,
                },
                y_true=y_pos,
                y_pred=y_pred,
                sensitive_features=sensitive,
            ).by_group,
            fm.MetricFrame(
                metrics={"roc_auc": _guarded(skm.roc_auc_score)},
                y_true=y_pos,
                y_pred=positive,
                sensitive_features=sensitive,
            ).by_group,
        ]
    return _Scored(tables, 2 * y_pred + y_pos, 4, _binary_gaps)


def _multiclass(
    fm: Any,
    groups: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray,
) -> _Scored:
    chosen = np.argmax(s, axis=1) if len(s) else np.zeros(0, dtype=int)
    predicted = classes[chosen]
    tables = []
    if len(y):
        sensitive = pd.Series(groups)
        tables.append(
            fm.MetricFrame(
                metrics={"n": _count, "accuracy": skm.accuracy_score},
                y_true=y,
                y_pred=predicted,
                sensitive_features=sensitive,
            ).by_group
        )
        for label in classes:
            tables.append(
                fm.MetricFrame(
                    metrics={f"selection_rate[{label}]": fm.selection_rate},
                    y_true=(y == label).astype(int),
                    y_pred=(predicted == label).astype(int),
                    sensitive_features=sensitive,
                ).by_group
            )
    return _Scored(tables, chosen, len(classes), _multiclass_gaps)


def _regression(
    fm: Any, groups: np.ndarray, y: np.ndarray, s: np.ndarray, above: np.ndarray
) -> _Scored:
    tables = []
    if len(y):
        sensitive = pd.Series(groups)
        # selection_rate only reads the predictions; y_true is there for the signature.
        tables = [
            fm.MetricFrame(
                metrics={"n": _count, "selection_rate": fm.selection_rate},
                y_true=y,
                y_pred=above,
                sensitive_features=sensitive,
            ).by_group,
            fm.MetricFrame(
                metrics={
                    "mean_prediction": lambda t, p: float(np.mean(p)),
                    "mae": skm.mean_absolute_error,
                },
                y_true=y,
                y_pred=s,
                sensitive_features=sensitive,
            ).by_group,
        ]
    return _Scored(tables, above, 2, _selection_gaps)


def check_sensitive_columns(frame_columns: Iterable[Any], columns: Iterable[str]) -> None:
    """Check that every sensitive column is a column of the data.

    Args:
        frame_columns: The columns of the data.
        columns: The sensitive columns (``evaluation.sensitive_columns``).

    Raises:
        ConfigError: naming each unknown column, with the closest column as a suggestion
            and the fix (edit ``evaluation.sensitive_columns`` in headway.yaml).
    """
    known = [str(c) for c in frame_columns]
    problems = []
    for column in columns:
        if column in known:
            continue
        close = difflib.get_close_matches(column, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"{column!r} is not a column of the data{hint}")
    if problems:
        raise ConfigError(
            f"evaluation.sensitive_columns: {'; '.join(problems)}. The columns are "
            f"{sorted(known)}; edit evaluation.sensitive_columns in headway.yaml"
        )
