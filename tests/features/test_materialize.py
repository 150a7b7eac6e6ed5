"""Materialization from Parquet and CSV sources into the SQLite online store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from headway.exceptions import ConfigError, DataError
from headway.features.definitions import FeatureDefinitions
from headway.features.materialize import materialize
from headway.features.online import BaseOnlineStore, SqliteOnlineStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _definitions() -> FeatureDefinitions:
    return FeatureDefinitions.model_validate(
        {
            "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
            "feature_views": [
                {
                    "name": "profile",
                    "entities": ["customer"],
                    "source": {"type": "parquet", "path": "profile.parquet"},
                    "timestamp_column": "updated_at",
                    "created_timestamp_column": "loaded_at",
                    "features": [
                        {"name": "plan", "type": "string"},
                        {"name": "charges", "type": "float"},
                        {"name": "seats", "type": "int"},
                    ],
                },
                {
                    "name": "usage",
                    "entities": ["customer"],
                    "source": {"type": "csv", "path": "usage.csv"},
                    "timestamp_column": "day",
                    "features": [{"name": "logins", "type": "int"}],
                },
            ],
        }
    )


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _profile() -> pd.DataFrame:
    rows = [
        # customer, updated, loaded, plan, charges, seats
        (1, 1, 1, "basic", 10.0, 1),
        (1, 5, 5, "pro", 50.0, 5),
        (1, 5, 6, "pro-fixed", 55.0, None),  # same time, loaded later: wins the tie
        (1, 20, 20, "future", 99.0, 9),  # at or after end: not taken
        (2, 2, 2, "gold", 20.0, 2),
        (3, 0, 0, "early", 1.0, 1),  # before start when a start is given
        (None, 3, 3, "no key", 0.0, 0),  # no key: skipped
    ]
    return pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="Int64"),
            "updated_at": [_day(r[1]) for r in rows],
            "loaded_at": [_day(r[2]) for r in rows],
            "plan": [r[3] for r in rows],
            "charges": [r[4] for r in rows],
            "seats": pd.array([r[5] for r in rows], dtype="Int64"),
        }
    )


def _write_sources(root: Path, usage: pd.DataFrame | None = None) -> None:
    _profile().to_parquet(root / "profile.parquet")
    if usage is None:
        usage = pd.DataFrame(
            {
                "customer_id": [1, 1, 2],
                "day": ["2026-01-02 00:00:00", "2026-01-04 00:00:00", "2026-01-03 00:00:00"],
                "logins": [3, 4, 7],
            }
        )
    usage.to_csv(root / "usage.csv", index=False)


def _read(store: BaseOnlineStore, view: str, features: list[str]) -> pd.DataFrame:
    read = store.read(view, [{"customer_id": i} for i in (1, 2, 3)], features=features, ttl=None)
    return read.values.assign(found=read.found)


def test_latest_values_as_of_end(tmp_path: Path) -> None:
    _write_sources(tmp_path)
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        written = materialize(_definitions(), store, root=tmp_path, start=None, end=_day(10))
        assert written == {"profile": 3, "usage": 2}
        profile = _read(store, "profile", ["plan", "charges", "seats"])
        assert profile["plan"].tolist() == ["pro-fixed", "gold", "early"]
        assert profile["charges"].tolist() == [55.0, 20.0, 1.0]
        assert profile["seats"].tolist() == [None, 2, 1]
        assert [type(v) for v in profile["seats"][1:]] == [int, int]
        usage = _read(store, "usage", ["logins"])
        assert usage["logins"].tolist() == [4, 7, None]
        assert usage["found"].tolist() == [True, True, False]
        # The event time is the source's, so the TTL counts from it.
        read = store.read("profile", [{"customer_id": 1}], features=["plan"], ttl=None)
        assert read.event_times == [_day(5)]


def test_the_window_is_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    _write_sources(tmp_path)
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        # [1, 5): customer 1's row at day 1 is in, the rows at day 5 are not; 3's day 0 is out.
        written = materialize(
            _definitions(), store, root=tmp_path, views=["profile"], start=_day(1), end=_day(5)
        )
        assert written == {"profile": 2}
        profile = _read(store, "profile", ["plan"])
        assert profile["plan"].tolist() == ["basic", "gold", None]
        assert _read(store, "usage", ["logins"])["found"].tolist() == [False] * 3
        # The next window moves customer 1 on and includes the future row at its end.
        written = materialize(
            _definitions(), store, root=tmp_path, views=["profile"], start=_day(5), end=_day(21)
        )
        assert written == {"profile": 1}
        assert _read(store, "profile", ["plan"])["plan"].tolist() == ["future", "gold", None]
        # An older window again: the newer stored value of 1 stays; 2's row of the same
        # time is written again, and 3 is new.
        written = materialize(
            _definitions(), store, root=tmp_path, views=["profile"], start=None, end=_day(3)
        )
        assert written == {"profile": 2}
        assert _read(store, "profile", ["plan"])["plan"].tolist() == ["future", "gold", "early"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    _write_sources(tmp_path)
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        with pytest.raises(ConfigError, match=r"'profil'.*known: \['profile', 'usage'\]"):
            materialize(
                _definitions(), store, root=tmp_path, views=["profil"], start=None, end=_day(9)
            )
        with pytest.raises(ValueError, match="must be before end"):
            materialize(_definitions(), store, root=tmp_path, start=_day(9), end=_day(9))
        with pytest.raises(ValueError, match=r"end=.*no time zone"):
            materialize(_definitions(), store, root=tmp_path, start=None, end=datetime(2026, 2, 1))
        with pytest.raises(ValueError, match=r"start=.*no time zone"):
            materialize(
                _definitions(), store, root=tmp_path, start=datetime(2026, 1, 1), end=_day(9)
            )
        assert _read(store, "profile", ["plan"])["found"].tolist() == [False] * 3


def test_nothing_is_written_when_one_source_lacks_a_column(tmp_path: Path) -> None:
    usage = pd.DataFrame({"customer_id": [1], "day": ["2026-01-02 00:00:00"], "visits": [3]})
    _write_sources(tmp_path, usage=usage)
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        with pytest.raises(DataError, match=r"usage.*\['logins'\]"):
            materialize(_definitions(), store, root=tmp_path, start=None, end=_day(10))
        assert _read(store, "profile", ["plan"])["found"].tolist() == [False] * 3
        assert _read(store, "usage", ["logins"])["found"].tolist() == [False] * 3


def test_a_value_unlike_its_declared_type_is_refused(tmp_path: Path) -> None:
    usage = pd.DataFrame({"customer_id": [1], "day": ["2026-01-02 00:00:00"], "logins": [2.5]})
    _write_sources(tmp_path, usage=usage)
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        with pytest.raises(DataError, match="'logins' is declared int"):
            materialize(_definitions(), store, root=tmp_path, start=None, end=_day(10))
        assert _read(store, "profile", ["plan"])["found"].tolist() == [False] * 3
