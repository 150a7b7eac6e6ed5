"""``data`` and ``split``: where the table comes from, the roles of its columns, the holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from headway.config._base import Section

__all__ = ["DataConfig", "SourceConfig", "SplitConfig"]


class SourceConfig(Section):
    """Where the training data comes from.

    ``csv`` and ``parquet`` read ``path`` (for Parquet also a folder or a glob such as
    ``data/*.parquet``); ``sql`` runs ``query`` with DuckDB, over files named in the query or
    over the tables of ``database`` (a DuckDB database file).
    """

    type: Literal["csv", "parquet", "sql"] | None = Field(
        default=None, description="Source kind; inferred from the path's extension when omitted."
    )
    path: str | None = Field(
        default=None, description="File, folder or glob, relative to the project directory."
    )
    delimiter: str = Field(default=",", description="Field delimiter of a CSV file.")
    encoding: str = Field(default="utf-8", description="Text encoding of a CSV file.")
    query: str | None = Field(default=None, description="SQL query (type: sql).")
    database: str | None = Field(
        default=None, description="DuckDB database file for type: sql; in-memory when omitted."
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.type is None:
            if self.query is not None:
                object.__setattr__(self, "type", "sql")
                return self
            if self.path is None:
                raise ValueError(
                    "set data.source.path (a CSV or Parquet file) or data.source.query"
                )
            suffix = Path(self.path.rstrip("/")).suffix.lower()
            inferred = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
            if inferred is None:
                raise ValueError(
                    f"cannot infer the format of {self.path!r} from its extension; "
                    "set data.source.type to 'csv', 'parquet' or 'sql'"
                )
            object.__setattr__(self, "type", inferred)
        if self.type == "sql" and not self.query:
            raise ValueError("data.source.type 'sql' needs data.source.query")
        if self.type in ("csv", "parquet") and not self.path:
            raise ValueError(f"data.source.type {self.type!r} needs data.source.path")
        return self

    def describe(self) -> str:
        """A short human-readable name of the source, for messages."""
        if self.type == "sql":
            where = f" on {self.database}" if self.database else ""
            return f"sql query{where}"
        return str(self.path)


class DataConfig(Section):
    """The table to learn from and the roles of its columns."""

    source: SourceConfig
    target: str = Field(description="Column to predict.")
    id_column: str | None = Field(default=None, description="Unique row id; not a feature.")
    timestamp_column: str | None = Field(
        default=None, description="Event time; enables a time-based holdout. Not a feature."
    )
    group_column: str | None = Field(
        default=None,
        description="Entity id when rows repeat per entity: an entity's rows never straddle "
        "train, validation and test. Not a feature.",
    )
    series_columns: list[str] = Field(
        default_factory=list,
        description="Forecasting: the columns that name one series (e.g. store_id, "
        "product_id); empty means one series. Features too.",
    )
    exclude_columns: list[str] = Field(
        default_factory=list, description="Columns that must not be used as features."
    )
    schema_file: str = Field(
        default="schema.yaml",
        description="Data schema, relative to the project directory; inferred on first run.",
    )


class SplitConfig(Section):
    """How rows are divided into train, validation (tuning) and test (holdout)."""

    valid_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
