"""Splits that stay put as the data changes, time boundaries that respect equal timestamps,
rows without a timestamp, and the legacy split kept for reproducing older versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from headway import DataError
from headway.config import DataConfig, SourceConfig, SplitConfig
from headway.data.split import row_identity, split
from headway.datasets import make_churn


def config(**changes: object) -> DataConfig:
    base: dict[str, object] = {
        "source": SourceConfig(path="data.csv"),
        "target": "churned",
        "id_column": "customer_id",
        "timestamp_column": None,
    }
    return DataConfig(**{**base, **changes})


def _keys(frame: pd.DataFrame, column: str = "customer_id") -> set[object]:
    return set(frame[column])


@pytest.mark.parametrize(
    "roles",
    [
        {"id_column": "customer_id"},
        {"id_column": None},  # by the row's content
        {"id_column": None, "group_column": "household"},
    ],
    ids=["id", "content", "group"],
)
def test_a_row_keeps_its_part_when_the_data_changes(roles: dict[str, object]) -> None:
    data = config(**roles)
    before = make_churn(3000, seed=0)
    before["household"] = before.index // 3
    # The next version: a third of the rows gone, new rows added, order shuffled.
    after = pd.concat([before.iloc[1000:], make_churn(1500, seed=9).assign(household=-1)])
    after = after.sample(frac=1.0, random_state=3)
    old = split(before, data=data, config=SplitConfig(), task="binary", seed=42)
    new = split(after, data=data, config=SplitConfig(), task="binary", seed=42)

    learned_from = _keys(pd.concat([old.train, old.valid]))
    kept = _keys(before.iloc[1000:])
    assert _keys(new.test) & learned_from & kept == set()
    for part in ("train", "valid", "test"):
        common = kept & _keys(getattr(old, part))
        assert common == kept & _keys(getattr(new, part))


def test_the_stable_split_meets_the_fractions_and_is_seeded() -> None:
    frame = make_churn(4000, seed=0)
    a = split(frame, data=config(), config=SplitConfig(), task="binary", seed=5)
    b = split(frame, data=config(), config=SplitConfig(), task="binary", seed=5)
    c = split(frame, data=config(), config=SplitConfig(), task="binary", seed=6)
    assert a.strategy == "hash"
    assert a.test.index.equals(b.test.index)
    assert not a.test.index.equals(c.test.index)
    # Binomial(4000, 0.2): 800 +- 25 is one standard deviation.
    assert abs(len(a.test) - 800) < 100 and abs(len(a.valid) - 800) < 100
    assert len(a.train) + len(a.valid) + len(a.test) == 4000
    assert abs(a.test["churned"].mean() - frame["churned"].mean()) < 0.05


def test_group_split_keeps_entities_whole_and_stable() -> None:
    frame = make_churn(3000, seed=0)
    frame["household"] = frame.index // 3  # three rows per entity
    data = config(id_column=None, group_column="household")
    parts = split(frame, data=data, config=SplitConfig(), task="binary", seed=0)
    assert parts.strategy == "group_hash"
    train, valid, test = (set(p["household"]) for p in (parts.train, parts.valid, parts.test))
    assert not (train & test) and not (train & valid) and not (valid & test)
    assert abs(len(parts.test) - 600) < 120


def test_duplicate_rows_share_a_part_without_an_id() -> None:
    frame = make_churn(1000, seed=0).drop(columns=["customer_id"])
    doubled = pd.concat([frame, frame], ignore_index=True)
    parts = split(doubled, data=config(id_column=None), config=SplitConfig(), task="binary", seed=0)
    identity = dict(zip(doubled.index, row_identity(doubled, config(id_column=None)), strict=True))
    test_ids = {identity[i] for i in parts.test.index}
    train_ids = {identity[i] for i in parts.train.index}
    assert test_ids and not (test_ids & train_ids)


def test_identity_ignores_the_target_and_number_types() -> None:
    frame = make_churn(50, seed=0)
    relabeled = frame.assign(churned=1 - frame["churned"])
    as_floats = frame.assign(num_products=frame["num_products"].astype("float64"))
    data = config(id_column=None)
    base = row_identity(frame, data)
    assert np.array_equal(base, row_identity(relabeled, data))
    assert np.array_equal(base, row_identity(as_floats, data))
    assert len(set(base.tolist())) == 50


def test_equal_timestamps_stay_on_one_side() -> None:
    frame = make_churn(1000, seed=0)
    # Ten days, a hundred rows each: every boundary falls inside a day.
    frame["observed_at"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        frame.index // 100, unit="D"
    )
    frame = frame.sample(frac=1.0, random_state=1)
    data = config(timestamp_column="observed_at")
    parts = split(frame, data=data, config=SplitConfig(test_fraction=0.25), task="binary", seed=0)
    assert parts.strategy == "time"
    assert parts.train["observed_at"].max() < parts.valid["observed_at"].min()
    assert parts.valid["observed_at"].max() < parts.test["observed_at"].min()
    assert len(parts.train) + len(parts.valid) + len(parts.test) == 1000


def test_rows_without_a_timestamp_are_an_error_or_left_out() -> None:
    frame = make_churn(500, seed=0)
    frame.loc[[3, 7, 11], "observed_at"] = pd.NaT
    data = config(timestamp_column="observed_at")
    with pytest.raises(DataError, match=r"'observed_at'.*missing in 3 row\(s\), e\.g\. row 3"):
        split(frame, data=data, config=SplitConfig(), task="binary", seed=0)
    parts = split(
        frame,
        data=data,
        config=SplitConfig(),
        task="binary",
        seed=0,
        missing_timestamps="exclude",
    )
    assert parts.excluded == 3 and parts.describe()["n_excluded"] == 3
    assert parts.test["observed_at"].notna().all()
    assert len(parts.train) + len(parts.valid) + len(parts.test) == 497


def test_the_legacy_scheme_reproduces_the_0_1_split() -> None:
    frame = make_churn(2000, seed=0)
    parts = split(
        frame, data=config(), config=SplitConfig(), task="binary", seed=5, scheme="legacy"
    )
    assert parts.strategy == "random_stratified"
    assert (len(parts.train), len(parts.valid), len(parts.test)) == (1200, 400, 400)
    assert abs(parts.test["churned"].mean() - frame["churned"].mean()) < 0.01


def test_a_tiny_table_still_gets_three_parts() -> None:
    frame = make_churn(12, seed=0)
    parts = split(frame, data=config(), config=SplitConfig(), task="binary", seed=0)
    assert len(parts.train) > 0 and len(parts.valid) > 0 and len(parts.test) > 0
    assert len(parts.train) + len(parts.valid) + len(parts.test) == 12
