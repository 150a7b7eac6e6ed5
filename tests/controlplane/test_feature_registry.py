"""Applied feature definitions, on every backend that starts here (see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from headway.controlplane import FeatureRegistry

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ENTITY = {"name": "customer", "join_keys": ["customer_id"], "description": "a payer"}
VIEW = {"name": "profile", "entities": ["customer"], "owner": "crm", "description": "plans"}
SERVICE = {"name": "churn_model", "features": ["profile"]}


@pytest.fixture
def registry(audit_url: str) -> Iterator[FeatureRegistry]:
    with FeatureRegistry(audit_url) as opened:
        yield opened


def test_apply_reports_added_changed_removed_unchanged(registry: FeatureRegistry) -> None:
    first = registry.apply(
        [("entity", ENTITY), ("feature_view", VIEW), ("service", SERVICE)], actor="ana", at=T0
    )
    assert first.added == ["entity:customer", "feature_view:profile", "service:churn_model"]
    stored = registry.items()
    assert [(i.kind, i.name) for i in stored] == [
        ("entity", "customer"),
        ("feature_view", "profile"),
        ("service", "churn_model"),
    ]
    view = registry.items("feature_view")[0]
    assert (view.owner, view.description, view.applied_by, view.applied_at) == (
        "crm",
        "plans",
        "ana",
        T0,
    )
    assert view.definition == VIEW and len(view.content_hash) == 16

    second = registry.apply(
        [("entity", ENTITY), ("feature_view", {**VIEW, "owner": "data"})], actor="bo"
    )
    assert second.as_dict() == {
        "added": [],
        "changed": ["feature_view:profile"],
        "removed": ["service:churn_model"],
        "unchanged": ["entity:customer"],
    }
    assert registry.items("feature_view")[0].owner == "data"
    assert registry.items("entity")[0].applied_by == "ana"  # unchanged: kept as applied
    assert registry.items("service") == []


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([("model", ENTITY)], "kind 'model' is unknown"),
        ([("entity", {"join_keys": ["id"]})], "entity name must be a non-empty string"),
        ([("entity", ENTITY), ("entity", ENTITY)], "entity 'customer' is given twice"),
    ],
)
def test_bad_definitions_write_nothing(
    registry: FeatureRegistry, items: list[tuple[str, dict[str, object]]], match: str
) -> None:
    registry.apply([("service", SERVICE)])
    before = registry.items()
    with pytest.raises(ValueError, match=match):
        registry.apply(items)
    assert registry.items() == before
