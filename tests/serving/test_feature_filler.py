"""Filling a request's features from the online store: what a missing or stale value of a
feature the model needs answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from headway.exceptions import InvalidRequestError
from headway.features.definitions import FeatureDefinitions
from headway.features.online import SqliteOnlineStore
from headway.serving.features import FeatureFiller
from headway.serving.protocol import ParsedRequest

NOW = datetime.now(UTC)


def _definitions() -> FeatureDefinitions:
    return FeatureDefinitions.model_validate(
        {
            "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
            "feature_views": [
                {
                    "name": "usage",
                    "entities": ["customer"],
                    "source": {"type": "csv", "path": "usage.csv"},
                    "timestamp_column": "day",
                    "ttl": "7d",
                    "features": [
                        {"name": "logins", "type": "int"},
                        {"name": "minutes", "type": "float"},
                    ],
                }
            ],
            "services": [{"name": "model", "features": ["usage"]}],
        }
    )


@pytest.fixture
def filler(tmp_path: Path) -> Iterator[FeatureFiller]:
    with SqliteOnlineStore(tmp_path / "online.db") as store:
        store.write(
            "usage",
            pd.DataFrame(
                {
                    "customer_id": ["fresh", "stale"],
                    "day": [NOW - timedelta(days=1), NOW - timedelta(days=20)],
                    "logins": [5, 9],
                    "minutes": [1.5, 2.5],
                }
            ),
            keys=["customer_id"],
            features=["logins", "minutes"],
            timestamp_column="day",
        )
        yield FeatureFiller(_definitions(), "model", store)


def _keys(*ids: str) -> ParsedRequest:
    columns = {"customer_id": list(ids)}
    return ParsedRequest(len(ids), columns, lambda: pd.DataFrame(columns))


def test_fresh_values_are_filled_and_the_keys_are_known(filler: FeatureFiller) -> None:
    filled = filler.fill(_keys("fresh"), {"logins", "minutes"})

    assert filler.keys == {"customer_id"}
    assert filled.columns == {"customer_id": ["fresh"], "logins": [5], "minutes": [1.5]}


def test_a_stale_value_of_a_required_feature_names_the_view_the_entity_and_the_ttl(
    filler: FeatureFiller,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        filler.fill(_keys("fresh", "stale"), {"logins"})

    message = str(caught.value)
    assert "feature 'logins' of feature view usage is missing for row 1" in message
    assert "customer_id='stale'" in message
    assert "older than the view's TTL of 7d" in message
    assert "headway features materialize" in message


def test_an_entity_the_store_never_saw_is_named_as_absent(filler: FeatureFiller) -> None:
    with pytest.raises(InvalidRequestError, match="the online store has no value for it"):
        filler.fill(_keys("unknown"), {"minutes"})


def test_missing_values_of_nullable_features_are_filled_as_null(filler: FeatureFiller) -> None:
    filled = filler.fill(_keys("stale", "unknown", "fresh"))

    assert filled.columns is not None
    assert filled.columns["logins"] == [None, None, 5]
    assert filled.columns["minutes"] == [None, None, 1.5]
