"""Point-in-time joins: DuckDB's ASOF join against a row-by-row reference, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.exceptions import ConfigError, DataError
from headway.features.definitions import FeatureDefinitions, apply_on_demand, load_definitions
from headway.features.pit import historical_features

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _definitions(ttl: str | None = "10d", created: bool = True) -> FeatureDefinitions:
    return FeatureDefinitions.model_validate(
        {
            "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
            "feature_views": [
                {
                    "name": "profile",
                    "entities": ["customer"],
                    "source": {"type": "parquet", "path": "profile.parquet"},
                    "timestamp_column": "updated_at",
                    "created_timestamp_column": "loaded_at" if created else None,
                    "ttl": ttl,
                    "features": [
                        {"name": "plan", "type": "string"},
                        {"name": "charges", "type": "float"},
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
            "services": [{"name": "churn", "features": ["profile", "usage:logins"]}],
        }
    )


def _reference(
    entities: pd.DataFrame,
    views: list[tuple[pd.DataFrame, str, str | None, timedelta | None, list[str]]],
) -> pd.DataFrame:
    """Row by row, as the semantics say."""
    out = entities.copy()
    for frame, ts, created, ttl, features in views:
        for f in features:
            out[f] = None
        for i, row in entities.iterrows():
            match = frame[
                (frame["customer_id"] == row["customer_id"]) & (frame[ts] <= row["event_timestamp"])
            ]
            if ttl is not None:
                match = match[match[ts] >= row["event_timestamp"] - ttl]
            if match.empty:
                continue
            latest = match[match[ts] == match[ts].max()]
            if created:
                latest = latest[latest[created] == latest[created].max()]
            for f in features:
                out.at[i, f] = latest.iloc[-1][f]
    return out


def _write(tmp: Path, profile: pd.DataFrame, usage: pd.DataFrame) -> None:
    profile.to_parquet(tmp / "profile.parquet")
    usage.assign(day=usage["day"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        tmp / "usage.csv", index=False
    )


def test_latest_value_at_or_before_within_ttl_ties_by_created(tmp_path: Path) -> None:
    profile = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "updated_at": [T0, T0 + timedelta(days=5), T0 + timedelta(days=5), T0],
            "loaded_at": [T0, T0 + timedelta(days=6), T0 + timedelta(days=7), T0],
            "plan": ["basic", "standard", "premium", "basic"],
            "charges": [10.0, 20.0, 30.0, 11.0],
        }
    )
    usage = pd.DataFrame(
        {"customer_id": ["a", "b"], "day": [T0 + timedelta(days=1), T0], "logins": [3, 7]}
    )
    _write(tmp_path, profile, usage)
    entities = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c"],
            "event_timestamp": [
                T0 + timedelta(days=4),  # before the update of day 5
                T0 + timedelta(days=5),  # at it: included; the later-created row wins
                T0 + timedelta(days=30),  # beyond the 10-day ttl of profile
                T0 - timedelta(days=1),  # before any row
                T0,  # unknown customer
            ],
            "churned": [0, 1, 0, 1, 0],
        }
    )
    got = historical_features(entities, _definitions(), "churn", root=tmp_path)
    assert list(got.columns) == [
        "customer_id",
        "event_timestamp",
        "churned",
        "plan",
        "charges",
        "logins",
    ]
    assert got["plan"].tolist()[:2] == ["basic", "premium"]
    assert got["charges"].tolist()[:2] == [10.0, 30.0]
    assert got["plan"].iloc[2:].isna().all()
    assert got["logins"].tolist()[:3] == [3, 3, 3]  # usage has no ttl
    assert got["logins"].iloc[3:].isna().all()
    assert got["churned"].tolist() == [0, 1, 0, 1, 0]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(1, 40),
    ttl_days=st.one_of(st.none(), st.integers(1, 20)),
)
def test_matches_the_row_by_row_reference(
    tmp_path_factory: pytest.TempPathFactory, seed: int, n_rows: int, ttl_days: int | None
) -> None:
    tmp = tmp_path_factory.mktemp("pit")
    rng = np.random.default_rng(seed)
    ids = ["a", "b", "c"]

    def times(n: int) -> list[datetime]:
        return [T0 + timedelta(days=int(d)) for d in rng.integers(0, 30, n)]

    profile = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_rows),
            "updated_at": times(n_rows),
            "loaded_at": [T0 + timedelta(seconds=int(s)) for s in rng.permutation(n_rows)],
            "plan": rng.choice(["x", "y", "z"], n_rows),
            "charges": rng.normal(size=n_rows).round(3),
        }
    )
    usage = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_rows),
            "day": times(n_rows),
            "logins": rng.integers(0, 9, n_rows),
        }
    ).drop_duplicates(["customer_id", "day"])
    _write(tmp, profile, usage)
    entities = pd.DataFrame(
        {"customer_id": rng.choice([*ids, "d"], 25), "event_timestamp": times(25)}
    )
    ttl = None if ttl_days is None else f"{ttl_days}d"
    got = historical_features(entities, _definitions(ttl=ttl), "churn", root=tmp)
    want = _reference(
        entities,
        [
            (
                profile,
                "updated_at",
                "loaded_at",
                None if ttl_days is None else timedelta(days=ttl_days),
                ["plan", "charges"],
            ),
            (usage, "day", None, None, ["logins"]),
        ],
    )
    for column in ("plan", "charges", "logins"):
        left = [None if pd.isna(v) else v for v in got[column]]
        right = [None if pd.isna(v) else v for v in want[column]]
        assert left == right, column


def test_an_entity_table_without_keys_or_timestamp_is_refused(tmp_path: Path) -> None:
    entities = pd.DataFrame({"customer_id": ["a"], "when": [T0]})
    with pytest.raises(DataError, match="no timestamp column 'event_timestamp'"):
        historical_features(entities, _definitions(), "churn", root=tmp_path)
    entities = pd.DataFrame({"id": ["a"], "event_timestamp": [T0]})
    with pytest.raises(DataError, match=r"feature view profile joins on \['customer_id'\]"):
        historical_features(entities, _definitions(), "churn", root=tmp_path)


def test_mixed_naive_and_aware_timestamps_are_refused(tmp_path: Path) -> None:
    entities = pd.DataFrame(
        {"customer_id": ["a", "b"], "event_timestamp": [T0, datetime(2026, 1, 1)]}, dtype=object
    )
    with pytest.raises(DataError, match="mixes timestamps with and without a time zone"):
        historical_features(entities, _definitions(), "churn", root=tmp_path)


def test_a_source_missing_a_declared_column_names_the_view(tmp_path: Path) -> None:
    profile = pd.DataFrame(
        {"customer_id": ["a"], "updated_at": [T0], "loaded_at": [T0], "plan": ["x"]}
    )
    usage = pd.DataFrame({"customer_id": ["a"], "day": [T0], "logins": [1]})
    _write(tmp_path, profile, usage)
    entities = pd.DataFrame({"customer_id": ["a"], "event_timestamp": [T0]})
    with pytest.raises(
        DataError,
        match=r"feature view profile: its source lacks the declared columns \['charges'\]",
    ):
        historical_features(entities, _definitions(), "churn", root=tmp_path)


def test_definitions_are_checked(tmp_path: Path) -> None:
    base = _definitions().model_dump(mode="json")
    twice = {**base, "services": [{"name": "s", "features": ["profile:plan", "usage", "profile"]}]}
    twice["feature_views"][1]["features"].append({"name": "plan", "type": "string"})
    path = tmp_path / "features.yaml"
    import yaml

    path.write_text(yaml.safe_dump(twice))
    with pytest.raises(ConfigError, match="feature 'plan' comes from both"):
        load_definitions(path)
    bad_ttl = _definitions().model_dump(mode="json")
    bad_ttl["feature_views"][0]["ttl"] = "soon"
    path.write_text(yaml.safe_dump(bad_ttl))
    with pytest.raises(ConfigError, match=r"feature_views\.0\.ttl.*'soon' is not a duration"):
        load_definitions(path)
    unknown = _definitions().model_dump(mode="json")
    unknown["feature_views"][0]["entities"] = ["shop"]
    path.write_text(yaml.safe_dump(unknown))
    with pytest.raises(ConfigError, match="feature view profile: unknown entities"):
        load_definitions(path)


def test_the_content_hash_follows_the_definitions() -> None:
    assert _definitions().content_hash() == _definitions().content_hash()
    assert _definitions().content_hash() != _definitions(ttl="11d").content_hash()


def _with_on_demand(expression: str = "charges * logins") -> FeatureDefinitions:
    doc = _definitions().model_dump(mode="json")
    doc["on_demand_features"] = [
        {"name": "spend", "type": "float", "expression": expression},
        {"name": "spend_k", "type": "float", "expression": "spend / 1000"},
    ]
    doc["services"][0]["features"] += ["spend", "spend_k"]
    return FeatureDefinitions.model_validate(doc)


def test_on_demand_features_are_computed_on_the_joined_rows(tmp_path: Path) -> None:
    profile = pd.DataFrame(
        {"customer_id": ["a"], "updated_at": [T0], "loaded_at": [T0], "plan": ["x"],
         "charges": [20.0]}
    )  # fmt: skip
    usage = pd.DataFrame({"customer_id": ["a"], "day": [T0], "logins": [3]})
    _write(tmp_path, profile, usage)
    entities = pd.DataFrame({"customer_id": ["a", "b"], "event_timestamp": [T0, T0]})
    got = historical_features(entities, _with_on_demand(), "churn", root=tmp_path)
    assert got["spend"].iloc[0] == 60.0 and got["spend_k"].iloc[0] == 0.06
    assert got["spend"].isna().iloc[1]  # no stored values, nothing to compute from


def test_apply_on_demand_keeps_given_values_and_names_a_bad_expression() -> None:
    features = _with_on_demand().on_demand("churn")
    frame = pd.DataFrame({"charges": [2.0, 4.0], "logins": [1, 2], "spend": [9.0, 9.0]})
    out = apply_on_demand(frame, features)
    assert out["spend"].tolist() == [9.0, 9.0]  # a request-time value wins
    assert out["spend_k"].tolist() == [0.009, 0.009]
    broken = _with_on_demand("charges * missing_column").on_demand("churn")
    with pytest.raises(DataError, match="on-demand feature spend: cannot compute"):
        apply_on_demand(frame.drop(columns="spend"), broken)


def test_on_demand_definitions_are_checked() -> None:
    doc = _definitions().model_dump(mode="json")
    doc["on_demand_features"] = [
        {"name": "bad", "type": "float", "expression": "charges.__class__"}
    ]
    with pytest.raises(ValueError, match="column names, numbers and operators only"):
        FeatureDefinitions.model_validate(doc)
    doc["on_demand_features"] = [{"name": "plan", "type": "float", "expression": "charges * 2"}]
    doc["services"][0]["features"].append("plan")
    with pytest.raises(ValueError, match="'plan' is both a feature of profile and an on-demand"):
        FeatureDefinitions.model_validate(doc)
