"""Checks of a table as a whole: row count, target, timestamps, duplicated rows, leakage."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from scipy.stats import rankdata

from headway.artifacts import CheckResult
from headway.config import DataConfig
from headway.data.schema import DataSchema
from headway.tasks import NUMERIC_TASKS

__all__ = ["fail", "passed", "table_checks"]

_EXAMPLES = 5
_LEAKAGE_SAMPLE = 20_000
_LEAKAGE_MIN_ROWS = 20
_LEAKAGE_FOLDS = 5
_LEAKAGE_SEED = 0
_LEAKAGE_SMOOTHING = 10.0  # pseudo-rows at the prior mean added to every category
_LEAKAGE_BINS = 100  # quantile bins of a number, multiclass targets (at least 4 per class)
_LEAKAGE_METRIC = {"binary": "ROC AUC", "multiclass": "macro one-vs-rest ROC AUC"}
_FUTURE_TOLERANCE = timedelta(days=1)


def fail(
    name: str, column: str | None, severity: str, message: str, values: pd.Series | None = None
) -> CheckResult:
    examples: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    n = 0
    if values is not None:
        n = len(values)
        examples = tuple(str(v)[:60] for v in values.head(_EXAMPLES).tolist())
        rows = tuple(int(i) for i in values.index[:_EXAMPLES])
        shown = ", ".join(f"row {r}: {e!r}" for r, e in zip(rows, examples, strict=True))
        message = f"{message} ({n} value(s); {shown})"
    return CheckResult(name, False, message, column, severity, n, examples, rows)


def passed(
    name: str, message: str, column: str | None = None, severity: str = "error"
) -> CheckResult:
    return CheckResult(name, True, message, column, severity)


def table_checks(
    frame: pd.DataFrame,
    schema: DataSchema,
    data: DataConfig,
    task: str,
    now: datetime,
    *,
    unique_ids: bool,
) -> list[CheckResult]:
    rules = schema.checks
    out: list[CheckResult] = []
    if rules.min_rows != "off":
        ok = len(frame) >= rules.min_rows_count
        message = f"{len(frame)} rows" + (
            ""
            if ok
            else f", fewer than the minimum {rules.min_rows_count}: add rows, or lower "
            "checks.min_rows_count (or set checks.min_rows) in schema.yaml"
        )
        out.append(CheckResult("min_rows", ok, message, None, rules.min_rows))
    out.extend(_target_checks(frame[data.target], task))
    ts = data.timestamp_column
    if ts is not None and ts in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[ts]):
        stamps = frame[ts]
        if rules.future_timestamps != "off":
            limit = pd.Timestamp(now + _FUTURE_TOLERANCE)
            future = stamps[stamps > limit]
            out.append(
                fail(
                    "future_timestamps",
                    ts,
                    rules.future_timestamps,
                    f"{ts!r} (data.timestamp_column) has timestamps after now ({now:%Y-%m-%d}); "
                    "fix the clock or time zone of the export",
                    future.astype(str),
                )
                if len(future)
                else passed("future_timestamps", "no timestamps in the future", ts)
            )
        if rules.monotonic_timestamps != "off":
            back = stamps[stamps.diff() < pd.Timedelta(0)]
            out.append(
                fail(
                    "monotonic_timestamps",
                    ts,
                    rules.monotonic_timestamps,
                    f"{ts!r} goes back in time; sort the export by time",
                    back.astype(str),
                )
                if len(back)
                else passed("monotonic_timestamps", "timestamps never decrease", ts)
            )
    if rules.duplicate_rows != "off":
        out.append(_duplicate_rows(frame, data, rules.duplicate_rows, unique_ids))
    if rules.leakage != "off" and data.target in frame.columns:
        out.extend(_leakage(frame, schema, data, task, rules.leakage, rules.leakage_auc))
    return out


def _duplicate_rows(
    frame: pd.DataFrame, data: DataConfig, severity: str, unique_ids: bool
) -> CheckResult:
    if unique_ids:
        # Rows that differ in their (unique) id cannot be copies of each other.
        return passed("duplicate_rows", "no duplicated rows (ids are unique)", severity=severity)
    # One 64-bit hash per row, then duplicates among the hashes: a fraction of the cost of
    # DataFrame.duplicated on wide tables.
    hashes = pd.util.hash_pandas_object(frame, index=False)
    dupes = hashes[hashes.duplicated()]
    if not len(dupes):
        return passed("duplicate_rows", "no duplicated rows", severity=severity)
    return fail(
        "duplicate_rows",
        None,
        severity,
        "identical rows appear more than once; deduplicate the export",
        pd.Series(["duplicate"] * len(dupes), index=dupes.index),
    )


def _target_checks(target: pd.Series, task: str) -> list[CheckResult]:
    name = str(target.name)
    n_null = int(target.isna().sum())
    if n_null == len(target):
        return [
            CheckResult(
                "target_not_null",
                False,
                f"target column {name!r} has only missing values; "
                "point data.target at the column holding the labels",
                name,
            )
        ]
    out = [
        CheckResult(
            "target_not_null",
            n_null == 0,
            f"{n_null} row(s) with a missing target are dropped" if n_null else "no nulls",
            name,
            "warn",
            n_null,
        )
    ]
    labels = target.dropna()
    classes = sorted(map(str, labels.unique()))
    if task == "binary":
        ok = len(classes) == 2
        message = f"binary target with classes {classes[:5]}"
        if not ok:
            message = (
                f"task 'binary' needs exactly 2 classes in {name!r}, found {len(classes)}: "
                f"{classes[:5]}. Fix task or the target column."
            )
        out.append(CheckResult("target_classes", ok, message, name))
    elif task == "multiclass":
        ok = 2 <= len(classes) <= 200
        message = f"{len(classes)} classes" + ("" if ok else "; task 'multiclass' needs 2 to 200")
        out.append(CheckResult("target_classes", ok, message, name))
    else:
        ok = is_numeric_dtype(labels)
        message = (
            f"numeric target ({labels.dtype})"
            if ok
            else f"task 'regression' needs a numeric target; {name!r} is {labels.dtype}"
        )
        out.append(CheckResult("target_numeric", ok, message, name))
    return out


def _leakage(
    frame: pd.DataFrame,
    schema: DataSchema,
    data: DataConfig,
    task: str,
    severity: str,
    bound: float,
) -> list[CheckResult]:
    """Features that alone predict the target almost perfectly: likely label leakage.

    A number is scored by its raw values (ROC AUC for a binary target, rank correlation for
    a numeric one): nothing is fitted, so nothing is optimistic. A category is scored by its
    out-of-fold target encoding (``_out_of_fold``), since an in-sample mean target gives a
    code seen once its own row's label and so flags pure noise. For a multiclass target,
    each column's out-of-fold class frequencies (numbers cut into quantile bins first) are
    scored by macro one-vs-rest ROC AUC. All against the one threshold ``leakage_auc``.
    """
    labelled = frame[frame[data.target].notna()]
    if len(labelled) > _LEAKAGE_SAMPLE:
        labelled = labelled.sample(_LEAKAGE_SAMPLE, random_state=0)
    y = labelled[data.target]
    n_classes = 0  # 0: the target is a number (binary: its 0/1 indicator) and is averaged
    if task == "binary" and y.nunique() == 2:
        positive = sorted(y.unique(), key=str)[1]
        target = (y == positive).to_numpy().astype(float)
        strata: np.ndarray | None = target.astype(np.int64)
    elif task == "multiclass" and y.nunique() >= 2:
        codes, classes = pd.factorize(y.astype(str))
        target = strata = codes.astype(np.int64)
        n_classes = len(classes)
    elif task in NUMERIC_TASKS and is_numeric_dtype(y):
        target, strata = y.to_numpy(dtype=float), None
    else:
        return []
    folds = _folds(len(labelled), strata)
    suspects = []
    for name in schema.features():
        if name in labelled.columns and len(labelled) >= _LEAKAGE_MIN_ROWS:
            scored = _score_column(labelled[name], target, folds, task, n_classes)
            if scored is not None and scored[0] >= bound:
                suspects.append((name, *scored))
    if not suspects:
        return [passed("leakage", "no single feature predicts the target alone", severity=severity)]
    metric = _LEAKAGE_METRIC.get(task, "rank correlation")
    return [
        CheckResult(
            "leakage",
            False,
            f"feature {name!r} alone predicts {data.target!r} almost perfectly ({metric} {how} "
            f"{strength:.3f}): a label leakage suspect. Add it to data.exclude_columns if it is "
            "only known after the outcome",
            name,
            severity,
        )
        for name, strength, how in suspects
    ]


def _score_column(
    values: pd.Series, target: np.ndarray, folds: np.ndarray, task: str, n_classes: int
) -> tuple[float, str] | None:
    """How well one column alone predicts the target, and what of it was scored; None when
    it has too few values."""
    if is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = values.to_numpy(dtype=float)
        if not n_classes:
            mask = ~np.isnan(x)
            if mask.sum() < _LEAKAGE_MIN_ROWS:
                return None
            return _strength(x[mask], target[mask], task), "of its values"
        codes = _bins(x, max(_LEAKAGE_BINS, 4 * n_classes))
        how = "of its quantile bins' out-of-fold target encoding"
    else:
        codes = pd.factorize(values, use_na_sentinel=False)[0]
        how = "of its out-of-fold target encoding"
    encoded = _out_of_fold(codes, target, folds, n_classes)
    if n_classes:
        return _macro_auc(target, encoded, folds * (int(codes.max()) + 1) + codes), how
    return _strength(encoded, target, task), how


def _folds(n: int, strata: np.ndarray | None) -> np.ndarray:
    """Seeded fold of each of ``n`` rows; with ``strata`` (class codes), each class is
    spread over the folds as evenly as its size allows."""
    order = np.random.default_rng(_LEAKAGE_SEED).permutation(n)
    if strata is not None:
        order = order[np.argsort(strata[order], kind="stable")]
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n) % _LEAKAGE_FOLDS
    return folds


def _bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Codes of ``n_bins`` quantile bins of ``x`` (equal values share one); missing values
    get a bin of their own."""
    present = ~np.isnan(x)
    codes = np.full(len(x), n_bins, dtype=np.int64)
    if present.any():
        ranks = rankdata(x[present], method="min").astype(np.int64)
        codes[present] = (ranks - 1) * n_bins // int(present.sum())
    return codes


def _out_of_fold(
    codes: np.ndarray, target: np.ndarray, folds: np.ndarray, n_classes: int
) -> np.ndarray:
    """Each row's category encoded from the rows of the other folds only: the category's
    mean target (or, with ``n_classes``, its class frequencies, one column per class),
    shrunk toward the other folds' overall mean by ``_LEAKAGE_SMOOTHING`` pseudo-rows so
    that a rare category says little."""
    n_codes = int(codes.max()) + 1
    width = max(n_classes, 1)

    def sums(rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        c = codes[rows]
        count = np.bincount(c, minlength=n_codes).astype(float)
        if n_classes:
            flat = np.bincount(c * n_classes + target[rows], minlength=n_codes * n_classes)
            return count, flat.reshape(n_codes, n_classes).astype(float)
        return count, np.bincount(c, weights=target[rows], minlength=n_codes)[:, None]

    all_count, all_sum = sums(slice(None))
    encoded = np.empty((len(codes), width))
    for fold in range(_LEAKAGE_FOLDS):
        rows = folds == fold
        count, total = sums(rows)
        count, total = all_count - count, all_sum - total
        prior = total.sum(axis=0) / max(count.sum(), 1.0)
        table = (total + _LEAKAGE_SMOOTHING * prior) / (count + _LEAKAGE_SMOOTHING)[:, None]
        encoded[rows] = table[codes[rows]]
    return encoded if n_classes else encoded[:, 0]


def _strength(x: np.ndarray, target: np.ndarray, task: str) -> float:
    """How well ``x`` alone ranks the target: ROC AUC (either direction) for a binary
    target, absolute rank correlation for a number."""
    if task == "binary":
        if len(np.unique(target)) < 2:
            return 0.0
        auc = _auc(target, x)
        return max(auc, 1 - auc)
    corr = pd.Series(x).corr(pd.Series(target), method="spearman")
    return abs(float(corr)) if not np.isnan(corr) else 0.0


def _macro_auc(classes: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Mean over classes ``k`` of the ROC AUC of ``scores[:, k]`` for class ``k`` against the
    rest. Rows of one group (a category in one fold) share their scores, so the AUCs are
    computed on the groups, weighted by their class counts: a fraction of the rows."""
    n_classes = scores.shape[1]
    ids, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    cells = np.bincount(inverse * n_classes + classes, minlength=len(ids) * n_classes)
    positives = cells.reshape(len(ids), n_classes)
    negatives = np.bincount(inverse, minlength=len(ids))[:, None] - positives
    # One row per class, its groups sorted by score.
    score = np.ascontiguousarray(scores[first].T)
    order = np.argsort(score, axis=1)
    score = np.take_along_axis(score, order, axis=1)
    pos = np.take_along_axis(np.ascontiguousarray(positives.T), order, axis=1)
    neg = np.take_along_axis(np.ascontiguousarray(negatives.T), order, axis=1)
    # Negatives scored below each group, and below or level with it (ties count half).
    starts = np.ones(score.shape, dtype=bool)
    starts[:, 1:] = score[:, 1:] != score[:, :-1]
    ends = np.ones(score.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    through = np.cumsum(neg, axis=1)
    below = np.maximum.accumulate(np.where(starts, through - neg, 0), axis=1)
    at_ends = np.where(ends, through, through[:, -1:])
    level = np.minimum.accumulate(at_ends[:, ::-1], axis=1)[:, ::-1]
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    both = (n_pos > 0) & (n_neg > 0)
    if not both.any():
        return 0.0
    wins = (pos * (below + level) / 2).sum(axis=1)
    return float((wins[both] / (n_pos[both] * n_neg[both])).mean())


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula: the same number as scikit-learn's, without its
    input validation, which dominated this check on wide tables."""
    ranks = rankdata(score)
    positives = y_true.astype(bool)
    n_pos = int(positives.sum())
    n_neg = len(y_true) - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
