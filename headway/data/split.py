"""Holdout splits that stay put when the data changes.

- With a timestamp column: the most recent ``test_fraction`` of rows is the test set and the
  ``valid_fraction`` before it the validation set, so a model is judged on data from after
  what it learned from. Rows that share a timestamp stay on one side of each boundary, and a
  row without a timestamp is an error (or, when the schema's ``nulls`` check is not
  ``error``, left out with a warning) instead of landing in the test set.
- Otherwise a row's part is a function of a stable key — the ``group_column`` value (whole
  entities stay together), else the ``id_column`` value, else a hash of the row's content
  (target left out) — hashed with the project seed into ``[0, 1)`` and compared with the
  fractions, as TFX's hash-based splits do. A row therefore keeps its part in every later
  version of the data: a row that trained the champion never lands in a later test set.
  The fractions are met in expectation, not exactly, and classes are balanced only by the
  hash (no exact stratification: it would move rows between parts as the data grows).

:func:`row_identity` gives the seed-free identity of rows (the same key, hashed), which the
pipeline records for the training rows so that a later gate can leave out of the champion
comparison any test row the champion trained on.

``scheme="legacy"`` reproduces the split of headway 0.1 (seeded shuffles, exact fractions)
for versions trained with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from headway.config import DataConfig, SplitConfig
from headway.exceptions import DataError
from headway.tasks import NUMERIC_TASKS

__all__ = ["LEGACY_STRATEGIES", "Split", "row_identity", "split"]

logger = logging.getLogger(__name__)

# Strategy names written by headway 0.1, whose split ``scheme="legacy"`` reproduces.
LEGACY_STRATEGIES = frozenset({"random_stratified", "random", "group"})
# pandas' hash of a key takes a 16-character key; identities use a fixed one.
_IDENTITY_KEY = "headway-identity"


@dataclass(frozen=True)
class Split:
    """Train (fit), valid (tune) and test (holdout) parts of a table.

    ``excluded`` counts rows left out of every part (rows without a timestamp).
    """

    strategy: str
    train: pd.DataFrame = field(repr=False)
    valid: pd.DataFrame = field(repr=False)
    test: pd.DataFrame = field(repr=False)
    excluded: int = 0

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {
            "strategy": self.strategy,
            "n_train": len(self.train),
            "n_valid": len(self.valid),
            "n_test": len(self.test),
        }
        if self.excluded:
            out["n_excluded"] = self.excluded
        return out


def row_identity(frame: pd.DataFrame, data: DataConfig) -> np.ndarray:
    """A 64-bit identity per row, the same in every version of the data: the hash of the
    group column's value, else of the id column's, else of the row's content without the
    target. Numbers hash by value (``3`` and ``3.0`` alike), everything else as text."""
    if data.group_column is not None:
        columns = [data.group_column]
    elif data.id_column is not None:
        columns = [data.id_column]
    else:
        columns = sorted((c for c in frame.columns if c != data.target), key=str)
    canonical = pd.DataFrame(
        {str(c): _canonical(frame[c]) for c in columns}, index=frame.index, copy=False
    )
    hashed = pd.util.hash_pandas_object(canonical, index=False, hash_key=_IDENTITY_KEY)
    return hashed.to_numpy(dtype=np.uint64)


def _canonical(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    return values.astype("string")


def split(
    frame: pd.DataFrame,
    *,
    data: DataConfig,
    config: SplitConfig,
    task: str,
    seed: int,
    scheme: Literal["stable", "legacy"] = "stable",
    missing_timestamps: Literal["error", "exclude"] = "error",
) -> Split:
    """Split ``frame`` into train, valid and test (see the module docstring).

    Args:
        frame: the table; rows without a target are dropped first.
        data: the roles of the columns (target, timestamp, id, group).
        config: the fractions.
        task: the task (classification uses stratification in the legacy scheme only).
        seed: salts the hash (and seeds the legacy shuffles).
        scheme: ``stable`` (hash-based, this release) or ``legacy`` (headway 0.1).
        missing_timestamps: rows without a timestamp are an ``error`` or are ``exclude``\\ d
            with a warning.

    Raises:
        DataError: rows without a timestamp under ``error``.
    """
    frame = frame[frame[data.target].notna()]
    if scheme == "legacy":
        return _legacy_split(frame, data=data, config=config, task=task, seed=seed)
    if data.timestamp_column is not None:
        return _time_split(frame, data.timestamp_column, config, missing_timestamps)
    position = _position(row_identity(frame, data), seed)
    test = position < config.test_fraction
    valid = ~test & (position < config.test_fraction + config.valid_fraction)
    if not test.any() or not valid.any() or (test | valid).all():
        # A table of a few rows can leave a part empty: fall back to ranks of the same
        # hash (deterministic, but a part's rows may change as such a tiny table grows).
        n_test, n_valid = _sizes(len(frame), config)
        order = np.argsort(position, kind="stable")
        test = np.zeros(len(frame), dtype=bool)
        valid = np.zeros(len(frame), dtype=bool)
        test[order[:n_test]] = True
        valid[order[n_test : n_test + n_valid]] = True
    strategy = "group_hash" if data.group_column is not None else "hash"
    train = ~(test | valid)
    return Split(strategy, frame[train], frame[valid], frame[test])


def _position(identity: np.ndarray, seed: int) -> np.ndarray:
    """Each identity mixed with the seed (SplitMix64's finaliser) into ``[0, 1)``: the same
    row gets the same position for the same seed, whatever else is in the table."""
    with np.errstate(over="ignore"):
        z = identity.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    # The top 53 bits, so that the division is exact in float64.
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _sizes(n: int, config: SplitConfig) -> tuple[int, int]:
    return max(1, round(n * config.test_fraction)), max(1, round(n * config.valid_fraction))


def _time_split(
    frame: pd.DataFrame,
    column: str,
    config: SplitConfig,
    missing_timestamps: Literal["error", "exclude"],
) -> Split:
    stamps = frame[column]
    missing = stamps.isna()
    excluded = int(missing.sum())
    if excluded:
        if missing_timestamps == "error":
            first = frame.index[missing.to_numpy()][0]
            raise DataError(
                f"column {column!r} (data.timestamp_column) is missing in {excluded} row(s), "
                f"e.g. row {first}: a time-based split cannot place them. Fill or drop those "
                "rows, or set the schema's checks.nulls to 'warn' to leave them out."
            )
        logger.warning("%d row(s) without %s left out of the split", excluded, column)
        frame = frame[~missing]
    ordered = frame.sort_values(column, kind="stable")
    n = len(ordered)
    n_test, n_valid = _sizes(n, config)
    values = ordered[column].to_numpy()
    test_at = _boundary(values, n - n_test)
    valid_at = _boundary(values, test_at - n_valid)
    train = ordered.iloc[:valid_at]
    valid = ordered.iloc[valid_at:test_at]
    test = ordered.iloc[test_at:]
    return Split("time", train, valid, test, excluded=excluded)


def _boundary(values: np.ndarray, cut: int) -> int:
    """Move ``cut`` back to the first row of its timestamp, so that rows sharing one
    timestamp stay on the later side; forward when that would empty the earlier side."""
    cut = max(0, min(cut, len(values)))
    if cut == 0 or cut == len(values):
        return cut
    start = int(np.searchsorted(values, values[cut], side="left"))
    if start > 0:
        return start
    return int(np.searchsorted(values, values[cut], side="right"))


def _legacy_split(
    frame: pd.DataFrame, *, data: DataConfig, config: SplitConfig, task: str, seed: int
) -> Split:
    """The split of headway 0.1: sorted by time, or seeded shuffles (stratified by class
    for classification, by whole groups with a group column), with exact fractions."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    n = len(frame)
    n_test, n_valid = _sizes(n, config)
    if data.timestamp_column is not None:
        ordered = frame.sort_values(data.timestamp_column, kind="stable")
        train = ordered.iloc[: n - n_test - n_valid]
        valid = ordered.iloc[n - n_test - n_valid : n - n_test]
        test = ordered.iloc[n - n_test :]
        return Split("time", train, valid, test)
    if data.group_column is not None:
        groups = frame[data.group_column].astype(str).to_numpy()
        outer = GroupShuffleSplit(n_splits=1, test_size=n_test / n, random_state=seed)
        rest_idx, test_idx = next(outer.split(frame, groups=groups))
        rest = frame.iloc[rest_idx]
        inner = GroupShuffleSplit(n_splits=1, test_size=n_valid / len(rest), random_state=seed)
        train_idx, valid_idx = next(inner.split(rest, groups=groups[rest_idx]))
        return Split("group", rest.iloc[train_idx], rest.iloc[valid_idx], frame.iloc[test_idx])
    stratify = frame[data.target] if task not in NUMERIC_TASKS else None
    rest, test = train_test_split(frame, test_size=n_test, random_state=seed, stratify=stratify)
    stratify = rest[data.target] if task not in NUMERIC_TASKS else None
    train, valid = train_test_split(rest, test_size=n_valid, random_state=seed, stratify=stratify)
    return Split("random_stratified" if task not in NUMERIC_TASKS else "random", train, valid, test)
