"""Data stage: read, validate against a schema, version by content, split."""

from __future__ import annotations

from headway.data.ingest import Dataset, ingest_and_validate, validation_key
from headway.data.schema import ChecksConfig, ColumnSchema, DataSchema, infer_schema, load_schema
from headway.data.split import Split, split
from headway.data.validate import feature_columns, raise_for_failures, validate
from headway.data.versions import DatasetStore

__all__ = [
    "ChecksConfig",
    "ColumnSchema",
    "DataSchema",
    "Dataset",
    "DatasetStore",
    "Split",
    "feature_columns",
    "infer_schema",
    "ingest_and_validate",
    "load_schema",
    "raise_for_failures",
    "split",
    "validate",
    "validation_key",
]
