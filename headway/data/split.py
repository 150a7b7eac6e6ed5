"""Holdout splits: time-based when the data has a timestamp, stratified random otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from headway.config import DataConfig, SplitConfig
from headway.tasks import NUMERIC_TASKS

__all__ = ["Split", "split"]


@dataclass(frozen=True)
class Split:
    """Train (fit), valid (tune) and test (holdout) parts of a table."""

    strategy: str
    train: pd.DataFrame = field(repr=False)
    valid: pd.DataFrame = field(repr=False)
    test: pd.DataFrame = field(repr=False)

    def describe(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "n_train": len(self.train),
            "n_valid": len(self.valid),
            "n_test": len(self.test),
        }


def split(
    frame: pd.DataFrame, *, data: DataConfig, config: SplitConfig, task: str, seed: int
) -> Split:
    """Split ``frame`` into train, valid and test.

    With a timestamp column the most recent ``test_fraction`` of rows is the test set and
    the ``valid_fraction`` before it the validation set: the model is always judged on
    data from after what it learned from. Without one but with ``data.group_column``, whole
    entities are assigned to one part. Otherwise a seeded random split, stratified by class
    for classification.
    """
    frame = frame[frame[data.target].notna()]
    n = len(frame)
    n_test = max(1, round(n * config.test_fraction))
    n_valid = max(1, round(n * config.valid_fraction))
    if data.timestamp_column is not None:
        ordered = frame.sort_values(data.timestamp_column, kind="stable")
        train = ordered.iloc[: n - n_test - n_valid]
        valid = ordered.iloc[n - n_test - n_valid : n - n_test]
        test = ordered.iloc[n - n_test :]
        return Split("time", train, valid, test)
    if data.group_column is not None:
        return _group_split(frame, data.group_column, n_test, n_valid, seed)
    stratify = frame[data.target] if task not in NUMERIC_TASKS else None
    rest, test = train_test_split(frame, test_size=n_test, random_state=seed, stratify=stratify)
    stratify = rest[data.target] if task not in NUMERIC_TASKS else None
    train, valid = train_test_split(rest, test_size=n_valid, random_state=seed, stratify=stratify)
    return Split("random_stratified" if task not in NUMERIC_TASKS else "random", train, valid, test)


def _group_split(frame: pd.DataFrame, group: str, n_test: int, n_valid: int, seed: int) -> Split:
    """Whole entities go to one part: no entity is seen in training and judged in test."""
    groups = frame[group].astype(str).to_numpy()
    outer = GroupShuffleSplit(n_splits=1, test_size=n_test / len(frame), random_state=seed)
    rest_idx, test_idx = next(outer.split(frame, groups=groups))
    rest = frame.iloc[rest_idx]
    inner = GroupShuffleSplit(n_splits=1, test_size=n_valid / len(rest), random_state=seed)
    train_idx, valid_idx = next(inner.split(rest, groups=groups[rest_idx]))
    return Split("group", rest.iloc[train_idx], rest.iloc[valid_idx], frame.iloc[test_idx])
