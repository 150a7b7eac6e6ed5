"""One conformance suite for every online store: SQLite (always) and Redis (a real
``redis-server`` on 127.0.0.1, skipped with the reason when it or the client is missing)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headway.exceptions import ConfigError, DataError
from headway.features.online import (
    BaseOnlineStore,
    RedisOnlineStore,
    SqliteOnlineStore,
    open_online_store,
)
from tests.helpers import free_port

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BACKENDS = ["sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BaseOnlineStore]:
    """Opens this test's (empty) store, as often as the test likes."""
    if request.param == "sqlite":
        return lambda: open_online_store(None, tmp_path / "online.db")
    url = request.getfixturevalue("redis_url")
    with open_online_store(url, tmp_path) as store:
        assert isinstance(store, RedisOnlineStore)
        store._client.flushdb()
    return lambda: open_online_store(url, tmp_path)


@pytest.fixture
def store(opener: Callable[[], BaseOnlineStore]) -> Iterator[BaseOnlineStore]:
    with opener() as opened:
        yield opened


def _rows(ids: list[int], days: list[int], plans: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "updated_at": [T0 + timedelta(days=d) for d in days],
            "plan": plans,
            "charges": [float(d) for d in days],
        }
    )


def _write(store: BaseOnlineStore, rows: pd.DataFrame, view: str = "profile") -> int:
    return store.write(
        view,
        rows,
        keys=["customer_id"],
        features=["plan", "charges"],
        timestamp_column="updated_at",
    )


def _read(store: BaseOnlineStore, ids: list[object], **kwargs: object) -> pd.DataFrame:
    options: dict[str, object] = {"ttl": None, **kwargs}
    read = store.read(
        "profile",
        [{"customer_id": i} for i in ids],
        features=["plan", "charges"],
        **options,  # type: ignore[arg-type]
    )
    return read.values.assign(found=read.found, stale=read.stale)


def test_upsert_keeps_the_latest_event_time_per_key(store: BaseOnlineStore) -> None:
    assert _write(store, _rows([1, 2], [5, 5], ["gold", "basic"])) == 2
    # Older than what is stored: neither replaces it nor counts.
    assert _write(store, _rows([1], [3], ["stale"])) == 0
    assert _read(store, [1])["plan"].tolist() == ["gold"]
    # Newer, and at the same time: both replace.
    assert _write(store, _rows([1, 2], [6, 5], ["pro", "plus"])) == 2
    assert _read(store, [1, 2])["plan"].tolist() == ["pro", "plus"]
    # Within one batch the latest row of a key wins, whatever the row order.
    assert _write(store, _rows([3, 3, 3], [9, 7, 8], ["c9", "c7", "c8"])) == 1
    got = _read(store, [3])
    assert got["plan"].tolist() == ["c9"]
    assert got["charges"].tolist() == [9.0]


def test_a_newer_row_replaces_the_whole_row(store: BaseOnlineStore) -> None:
    store.write(
        "profile",
        _rows([1], [1], ["gold"]),
        keys=["customer_id"],
        features=["plan", "charges"],
        timestamp_column="updated_at",
    )
    store.write(
        "profile",
        _rows([1], [2], ["pro"]),
        keys=["customer_id"],
        features=["plan"],
        timestamp_column="updated_at",
    )
    got = _read(store, [1])
    assert got["plan"].tolist() == ["pro"]
    assert got["charges"].tolist() == [None]
    assert got["found"].tolist() == [True]


def test_read_follows_the_requested_keys_and_unknown_keys_are_missing(
    store: BaseOnlineStore,
) -> None:
    _write(store, _rows([1, 2, 3], [1, 2, 3], ["a", "b", "c"]))
    got = _read(store, [3, 99, 1, 3, 2])
    assert got["plan"].tolist() == ["c", None, "a", "c", "b"]
    assert got["charges"].tolist() == [3.0, None, 1.0, 3.0, 2.0]
    assert got["found"].tolist() == [True, False, True, True, True]
    assert got["stale"].tolist() == [False] * 5
    assert list(got.columns[:2]) == ["plan", "charges"]
    # An empty request and a view never written answer too.
    assert _read(store, []).empty
    never = store.read("nothing_yet", [{"customer_id": 1}], features=["plan"], ttl=None)
    assert never.found == [False]
    assert never.values["plan"].tolist() == [None]


def test_values_older_than_the_ttl_come_back_stale_and_missing(store: BaseOnlineStore) -> None:
    _write(store, _rows([1, 2], [0, 9], ["old", "new"]))
    now = T0 + timedelta(days=10)
    got = _read(store, [1, 2, 3], ttl=timedelta(days=5), now=now)
    assert got["plan"].tolist() == [None, "new", None]
    assert got["found"].tolist() == [False, True, False]
    assert got["stale"].tolist() == [True, False, False]
    # Exactly at the TTL's edge the value is still fresh.
    edge = _read(store, [1], ttl=timedelta(days=10), now=now)
    assert edge["found"].tolist() == [True]
    read = store.read("profile", [{"customer_id": 2}], features=["plan"], ttl=None)
    assert read.event_times == [T0 + timedelta(days=9)]
    with pytest.raises(ValueError, match="no time zone"):
        _read(store, [1], ttl=timedelta(days=1), now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="above zero"):
        _read(store, [1], ttl=timedelta(0))


def test_multi_column_join_keys(store: BaseOnlineStore) -> None:
    rows = pd.DataFrame(
        {
            "country": ["fr", "fr", "de"],
            "store_id": [1, 2, 1],
            "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),  # naive: UTC
            "sales": [10, 20, 30],
        }
    )
    written = store.write(
        "store_sales",
        rows,
        keys=["country", "store_id"],
        features=["sales"],
        timestamp_column="day",
    )
    assert written == 3
    # Mappings in any order, with other entries; a frame of key columns; numpy and
    # integral float keys are the same entity as the int.
    requests = [
        {"store_id": 1, "country": "de", "other": "ignored"},
        {"country": "fr", "store_id": np.int64(2)},
        {"country": "de", "store_id": 2},
        {"country": "fr", "store_id": 1.0},
    ]
    read = store.read("store_sales", requests, features=["sales"], ttl=None)
    assert read.values["sales"].tolist() == [30, 20, None, 10]
    assert read.found == [True, True, False, True]
    frame = pd.DataFrame(requests).drop(columns="other")
    by_frame = store.read("store_sales", frame, features=["sales"], ttl=None)
    assert by_frame.values["sales"].tolist() == [30, 20, None, 10]
    assert by_frame.event_times[0] == datetime(2026, 1, 3, tzinfo=UTC)
    with pytest.raises(DataError, match="'store_id'"):
        store.read("store_sales", [{"country": "fr"}], features=["sales"], ttl=None)
    with pytest.raises(DataError, match="'country' is null"):
        store.read("store_sales", [{"country": None, "store_id": 1}], features=["sales"], ttl=None)


def test_values_round_trip_with_their_types(store: BaseOnlineStore) -> None:
    rows = pd.DataFrame(
        {
            "id": ["a", "b"],
            "ts": [T0, T0],
            "count": pd.array([3, None], dtype="Int64"),
            "ratio": [0.25, np.nan],
            "label": ["x", None],
            "flag": [True, None],
            "plain": [False, True],
            "big": [2**53 + 1, -1],
            "text": ["é ünïcode \"quoted\" 'x'", ""],
        }
    )
    features = ["count", "ratio", "label", "flag", "plain", "big", "text"]
    store.write("typed", rows, keys=["id"], features=features, timestamp_column="ts")
    read = store.read("typed", [{"id": "a"}, {"id": "b"}], features=features, ttl=None)
    first, second = (read.values.iloc[i].tolist() for i in range(2))
    assert first == [3, 0.25, "x", True, False, 2**53 + 1, "é ünïcode \"quoted\" 'x'"]
    assert [type(v) for v in first] == [int, float, str, bool, bool, int, str]
    assert second == [None, None, None, None, True, -1, ""]
    assert read.found == [True, True]


def test_a_hundred_keys_in_one_read(store: BaseOnlineStore) -> None:
    ids = list(range(1000))
    _write(store, _rows(ids, [i % 30 for i in ids], [f"p{i}" for i in ids]))
    wanted = np.random.default_rng(0).choice(1100, size=100, replace=False).tolist()
    got = _read(store, wanted)
    assert got["plan"].tolist() == [f"p{i}" if i < 1000 else None for i in wanted]
    assert got["found"].tolist() == [i < 1000 for i in wanted]
    assert len(got) == 100


def test_values_survive_reopening(opener: Callable[[], BaseOnlineStore]) -> None:
    with opener() as store:
        _write(store, _rows([1], [1], ["gold"]))
    with opener() as store:
        assert _read(store, [1])["plan"].tolist() == ["gold"]


def test_bad_writes_name_the_column(store: BaseOnlineStore) -> None:
    rows = _rows([1], [1], ["gold"])
    with pytest.raises(DataError, match=r"\['tier'\]"):
        store.write(
            "profile", rows, keys=["customer_id"], features=["tier"], timestamp_column="updated_at"
        )
    with pytest.raises(DataError, match="'customer_id' is null"):
        _write(store, rows.assign(customer_id=[None]))
    with pytest.raises(DataError, match="missing timestamps"):
        _write(store, rows.assign(updated_at=[None]))
    with pytest.raises(DataError, match="both join keys and features"):
        store.write(
            "profile", rows, keys=["plan"], features=["plan"], timestamp_column="updated_at"
        )
    assert _read(store, [1])["found"].tolist() == [False]


def test_open_online_store_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_online_store(None, tmp_path / "a" / "online.db") as store:
        assert isinstance(store, SqliteOnlineStore)
    assert (tmp_path / "a" / "online.db").is_file()
    monkeypatch.chdir(tmp_path)
    with open_online_store("sqlite:///b/online.db", tmp_path / "unused.db") as store:
        assert isinstance(store, SqliteOnlineStore)
    assert (tmp_path / "b" / "online.db").is_file()
    with pytest.raises(ConfigError, match="'ftp'") as unknown:
        open_online_store("ftp://user:s3cret@host/store", tmp_path)
    assert "s3cret" not in str(unknown.value) and "***" in str(unknown.value)
    with pytest.raises(ConfigError, match="sqlite:///PATH"):
        open_online_store("sqlite://", tmp_path)


def test_redis_errors_mask_the_password(tmp_path: Path) -> None:
    pytest.importorskip("redis", reason="the redis client is not installed")
    with pytest.raises(ConfigError, match="cannot reach Redis") as caught:
        open_online_store(f"redis://:s3cret@127.0.0.1:{free_port()}/0", tmp_path)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_redis_without_its_client_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError, match=r"pip install 'headway\[redis\]'"):
        open_online_store("redis://127.0.0.1:1/0", tmp_path)
