"""The schema's ``leakage`` check: out-of-fold target encoding of categories, so that
high-cardinality noise is not flagged on small tables, and multiclass targets covered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headway.config import DataConfig, SourceConfig
from headway.data import Dataset, DatasetStore, infer_schema, ingest_and_validate
from headway.data.schema import write_schema

NOW = datetime(2026, 11, 22, tzinfo=UTC)
DATA = DataConfig(source=SourceConfig(path="data.csv"), target="y")
ROWS = 600
TIERS = np.array(["bronze", "silver", "gold", "platinum"])


def target(task: str, rng: np.random.Generator) -> pd.Series:
    """A binary label, a price in 20 steps, or one of four tiers."""
    if task == "binary":
        return pd.Series(rng.integers(0, 2, ROWS))
    if task == "regression":
        return pd.Series(rng.integers(0, 20, ROWS) * 2.5)
    return pd.Series(TIERS[rng.integers(0, len(TIERS), ROWS)])


def noise_codes(rng: np.random.Generator, distinct: int = 520) -> pd.Series:
    """``distinct`` random codes over ``ROWS`` rows, most of them seen once: a reference
    or postcode column unrelated to the target."""
    ids = np.concatenate([np.arange(distinct), np.arange(ROWS - distinct)])
    rng.shuffle(ids)
    return pd.Series([f"ref-{i:04d}" for i in ids])


def table(task: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = target(task, rng)
    return pd.DataFrame(
        {
            "amount": rng.normal(100.0, 20.0, ROWS).round(2),
            "region": np.array(["north", "south", "east"])[rng.integers(0, 3, ROWS)],
            "reference": noise_codes(rng),
            "y": y,
        }
    )


def ingest(root: Path, frame: pd.DataFrame, task: str) -> Dataset:
    root.mkdir(parents=True, exist_ok=True)
    schema = infer_schema(frame, DATA)
    schema.checks = schema.checks.model_copy(update={"leakage": "warn"})
    write_schema(schema, root / "schema.yaml")
    return ingest_and_validate(
        DATA,
        task=task,
        root=root,
        store=DatasetStore(root / ".headway" / "datasets"),
        frame=frame,
        now=NOW,
    )


def flagged(dataset: Dataset) -> dict[str, str]:
    """The columns the leakage check flags, with its message for each."""
    checks = [c for c in dataset.report.checks if c.name == "leakage"]
    assert checks, "the leakage check did not run"
    return {str(c.column): c.message for c in checks if not c.passed}


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_high_cardinality_noise_is_not_flagged(tmp_path: Path, task: str) -> None:
    # Most codes are seen once: a category's in-sample mean target is that row's own label.
    assert flagged(ingest(tmp_path, table(task), task)) == {}


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_the_target_written_as_text_is_flagged(tmp_path: Path, task: str) -> None:
    frame = table(task)
    frame["outcome_note"] = "outcome: " + frame["y"].astype(str)
    leaks = flagged(ingest(tmp_path, frame, task))
    assert set(leaks) == {"outcome_note"}
    assert "label leakage suspect" in leaks["outcome_note"]


def test_a_leaking_number_is_flagged_on_a_multiclass_target(tmp_path: Path) -> None:
    frame = table("multiclass")
    rng = np.random.default_rng(1)
    # Not monotone in any ordering of the tier names: a per-tier level plus noise.
    level = frame["y"].map({"bronze": 30.0, "silver": 10.0, "gold": 40.0, "platinum": 20.0})
    frame["closing_score"] = level + rng.uniform(0.0, 5.0, ROWS)
    leaks = flagged(ingest(tmp_path, frame, "multiclass"))
    assert set(leaks) == {"closing_score"}
    assert "one-vs-rest" in leaks["closing_score"]


def test_a_category_that_splits_one_class_only_is_not_flagged(tmp_path: Path) -> None:
    # Knowing whether a row is 'gold' is a real signal, not the whole label.
    frame = table("multiclass")
    frame["is_gold"] = np.where(frame["y"] == "gold", "yes", "no")
    assert flagged(ingest(tmp_path, frame, "multiclass")) == {}


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_the_check_is_deterministic(tmp_path: Path, task: str) -> None:
    frame = table(task, seed=3)
    frame["outcome_note"] = "outcome: " + frame["y"].astype(str)
    first = flagged(ingest(tmp_path / "a", frame, task))
    second = flagged(ingest(tmp_path / "b", frame.copy(), task))
    assert first == second
    assert set(first) == {"outcome_note"}
