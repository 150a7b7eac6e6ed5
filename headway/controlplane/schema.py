"""The control-plane schema as it is now: the single source of truth for its tables.

A change here needs a new migration in ``migrations/versions/`` that brings a database
from the previous revision to this schema, and a higher :data:`SCHEMA_VERSION` when an
older headway must no longer write to the upgraded database (the test of the migrations
compares a freshly migrated database with :data:`metadata`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from headway.sqltypes import UTCDateTime

__all__ = [
    "MAX_NAME",
    "MAX_VERSION",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "TABLE_PREFIX",
    "VERSION_TABLE",
    "audit_table",
    "deployments_table",
    "features_table",
    "leases_table",
    "meta_table",
    "metadata",
    "monitoring_table",
    "rollouts_table",
]

# Version of the control-plane schema this headway writes, stored in ``headway_meta``.
# headway 0.1.0 refuses a database whose number is higher than its own (1): raise it
# with every migration that an older headway must not write past.
SCHEMA_VERSION = 7
SCHEMA_VERSION_KEY = "schema_version"

# Every table headway owns starts with this; others in a shared database are left alone.
TABLE_PREFIX = "headway_"
# Alembic's revision table, under headway's own name: MLflow and Optuna keep theirs in
# ``alembic_version``, and a team may point all three at one PostgreSQL database.
VERSION_TABLE = "headway_alembic_version"

MAX_NAME = 255  # model names and actors are VARCHAR(255)
MAX_VERSION = 64

metadata = MetaData()

audit_table = Table(
    "headway_audit",
    metadata,
    # BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("model", String(MAX_NAME), nullable=False),
    Column("version", String(MAX_VERSION), nullable=True),
    Column("actor", String(MAX_NAME), nullable=False),
    # The OS user of the process that wrote the event (NULL before schema version 3).
    Column("os_actor", String(MAX_NAME), nullable=True),
    Column("reason", Text(), nullable=False),
    Column("details", JSON(), nullable=False),
    Index("ix_headway_audit_model_at", "model", "at"),
    Index("ix_headway_audit_model_version", "model", "version"),
)

# The deployment record: per registered model, the candidate version under rollout and how
# traffic is split between it and the champion (see headway.controlplane.deployments).
deployments_table = Table(
    "headway_deployments",
    metadata,
    Column("model", String(MAX_NAME), primary_key=True),
    Column("candidate", String(MAX_VERSION), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("weight", Float(), nullable=False),
    Column("entity_column", String(MAX_NAME), nullable=True),
    Column("revision", Integer(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("actor", String(MAX_NAME), nullable=False),
    Column("os_actor", String(MAX_NAME), nullable=False),
    Column("reason", Text(), nullable=False),
)

# One row per model, version and window tested by ``headway monitor``: the verdicts in
# columns (for queries and the server's gauges), the whole report in ``report``.
monitoring_table = Table(
    "headway_monitoring",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("model", String(MAX_NAME), nullable=False),
    Column("version", String(MAX_VERSION), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("rows", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dataset_drift", Integer(), nullable=False),
    Column("alarms", JSON(), nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    Column("report", JSON(), nullable=False),
    Index("ix_headway_monitoring_model_end", "model", "window_end"),
)

# One row per rollout the autopilot started: its state machine (status, step) in columns,
# its evidence and counters in ``state`` (see headway.controlplane.rollouts).
rollouts_table = Table(
    "headway_rollouts",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("model", String(MAX_NAME), nullable=False),
    Column("candidate", String(MAX_VERSION), nullable=False),
    Column("champion", String(MAX_VERSION), nullable=True),
    Column("strategy", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer(), nullable=False),
    Column("revision", Integer(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("step_started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("reason", Text(), nullable=False),
    Column("state", JSON(), nullable=False),
    Index("ix_headway_rollouts_model_status", "model", "status"),
)

# Leases: one holder at a time per name (e.g. the autopilot of one project), until it
# stops renewing (see headway.controlplane.leases).
leases_table = Table(
    "headway_leases",
    metadata,
    Column("name", String(MAX_NAME), primary_key=True),
    Column("holder", String(MAX_NAME), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Feature definitions applied with ``headway features apply``: one row per entity, feature
# view and service, its definition as JSON and a content hash (headway.controlplane.features).
features_table = Table(
    "headway_features",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("name", String(MAX_NAME), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("definition", JSON(), nullable=False),
    Column("owner", String(MAX_NAME), nullable=False),
    Column("description", Text(), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
    Column("applied_by", String(MAX_NAME), nullable=False),
)

meta_table = Table(
    "headway_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)
