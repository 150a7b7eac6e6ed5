"""Data stage: ingest, validate, version and split the training table."""

from __future__ import annotations

from headway.data.ingest import Dataset, ingest
from headway.data.split import Split, split
from headway.data.validate import feature_columns, raise_for_failures, validate

__all__ = [
    "Dataset",
    "Split",
    "feature_columns",
    "ingest",
    "raise_for_failures",
    "split",
    "validate",
]
