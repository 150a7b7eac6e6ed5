"""Migrations of the control-plane database, on SQLite and PostgreSQL.

A headway 0.1.0 database is made here with the DDL that headway 0.1.0 ran (its
``metadata.create_all``, compiled for each dialect), so the upgrade is tested against what
users have, not against this headway's idea of it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from headway.controlplane import (
    SCHEMA_VERSION,
    AuditEvent,
    AuditLog,
    current_revision,
    default_url,
    head_revision,
    migrate,
    upgrade,
)
from headway.controlplane.deployments import DeploymentStore
from headway.controlplane.engine import create_engine, write_engine
from headway.controlplane.migrate import alembic_config
from headway.controlplane.schema import VERSION_TABLE, metadata
from headway.exceptions import HeadwayError

HEAD = "0007"
NEWER = "Upgrade headway (pip install -U headway)"

# What headway 0.1.0's metadata.create_all ran, per dialect.
DDL_0_1_0: dict[str, list[str]] = {
    "sqlite": [
        """CREATE TABLE headway_audit (
            id INTEGER NOT NULL,
            at DATETIME NOT NULL,
            action VARCHAR(32) NOT NULL,
            model VARCHAR(255) NOT NULL,
            version VARCHAR(64),
            actor VARCHAR(255) NOT NULL,
            reason TEXT NOT NULL,
            details JSON NOT NULL,
            PRIMARY KEY (id)
        )""",
        "CREATE INDEX ix_headway_audit_model_at ON headway_audit (model, at)",
        """CREATE TABLE headway_meta (
            "key" VARCHAR(64) NOT NULL,
            value VARCHAR(255) NOT NULL,
            PRIMARY KEY ("key")
        )""",
    ],
    "postgresql": [
        """CREATE TABLE headway_audit (
            id BIGSERIAL NOT NULL,
            at TIMESTAMP WITH TIME ZONE NOT NULL,
            action VARCHAR(32) NOT NULL,
            model VARCHAR(255) NOT NULL,
            version VARCHAR(64),
            actor VARCHAR(255) NOT NULL,
            reason TEXT NOT NULL,
            details JSON NOT NULL,
            PRIMARY KEY (id)
        )""",
        "CREATE INDEX ix_headway_audit_model_at ON headway_audit (model, at)",
        """CREATE TABLE headway_meta (
            key VARCHAR(64) NOT NULL,
            value VARCHAR(255) NOT NULL,
            PRIMARY KEY (key)
        )""",
    ],
}

# Rows as headway 0.1.0 stored them: UTC, naive on SQLite; details as JSON text.
INSERT_0_1_0 = {
    "sqlite": (
        "INSERT INTO headway_audit (at, action, model, version, actor, reason, details) "
        "VALUES (:at, :action, :model, :version, :actor, :reason, :details)"
    ),
    "postgresql": (
        "INSERT INTO headway_audit (at, action, model, version, actor, reason, details) "
        "VALUES (CAST(:at AS TIMESTAMPTZ), :action, :model, :version, :actor, :reason, "
        "CAST(:details AS JSON))"
    ),
}
ROWS_0_1_0: list[dict[str, Any]] = [
    {
        "at": datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
        "action": "registered",
        "model": "churn",
        "version": "1",
        "actor": "ana",
        "reason": "",
        "details": {},
    },
    {
        "at": datetime(2025, 1, 2, 8, 30, 15, 123456, tzinfo=UTC),
        "action": "blessed",
        "model": "churn",
        "version": "1",
        "actor": "ana",
        "reason": "beats the baseline — by 3 points",
        "details": {"gates": {"roc_auc": {"value": 0.91, "passed": True}}, "prev": None},
    },
    {
        "at": datetime(2025, 1, 3, 23, 59, 59, tzinfo=UTC),
        "action": "archived",
        "model": "fraud",
        "version": None,
        "actor": "bo",
        "reason": "retired",
        "details": {"versions": [1, 2]},
    },
]


def _backend(url: str) -> str:
    return sa.make_url(url).get_backend_name()


@contextmanager
def _connect(url: str) -> Iterator[sa.Connection]:
    """A plain connection (no headway code in the way) in a transaction, committed."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _make_0_1_0_database(url: str, *, schema_version: str = "1") -> None:
    backend = _backend(url)
    if backend == "sqlite":
        Path(sa.make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    with _connect(url) as conn:
        for statement in DDL_0_1_0[backend]:
            conn.exec_driver_sql(statement)
        conn.execute(
            sa.text("INSERT INTO headway_meta (\"key\", value) VALUES ('schema_version', :v)"),
            {"v": schema_version},
        )
        for row in ROWS_0_1_0:
            at = row["at"]
            stored_at = (
                at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                if backend == "sqlite"
                else at.isoformat()
            )
            conn.execute(
                sa.text(INSERT_0_1_0[backend]),
                {**row, "at": stored_at, "details": json.dumps(row["details"])},
            )


def _indexes(conn: sa.Connection, table: str) -> dict[str, list[str]]:
    return {
        str(ix["name"]): [str(c) for c in ix["column_names"]]
        for ix in sa.inspect(conn).get_indexes(table)
    }


def _snapshot(url: str) -> dict[str, Any]:
    """Every table, index and row of the database, to compare before and after."""
    with _connect(url) as conn:
        tables = sorted(sa.inspect(conn).get_table_names())
        return {
            "tables": tables,
            "indexes": {table: _indexes(conn, table) for table in tables},
            "rows": {
                table: sorted(
                    (tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))),
                    key=repr,
                )
                for table in tables
            },
        }


def _set(url: str, statement: str, **params: str) -> None:
    with _connect(url) as conn:
        conn.execute(sa.text(statement), params)


def _schema_differences(url: str, target: sa.MetaData) -> list[Any]:
    with _connect(url) as conn:
        return list(
            compare_metadata(
                MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), target
            )
        )


# --- Upgrading a headway 0.1.0 database ----------------------------------------------------


def test_head_is_the_newest_revision() -> None:
    assert head_revision() == HEAD
    assert SCHEMA_VERSION == 7


def test_0_1_0_database_is_upgraded_in_place_keeping_rows(audit_url: str) -> None:
    _make_0_1_0_database(audit_url)
    assert current_revision(audit_url) is None

    with AuditLog(audit_url) as log:
        events = log.events()
        added = log.record("promoted", model="churn", version="1", actor="cy")

    expected = [AuditEvent(id=i, **row) for i, row in enumerate(ROWS_0_1_0, start=1)]
    assert events == expected
    assert added.id == len(ROWS_0_1_0) + 1
    assert current_revision(audit_url) == HEAD
    with _connect(audit_url) as conn:
        assert conn.execute(sa.text("SELECT version_num FROM headway_alembic_version")).all() == [
            (HEAD,)
        ]
        version = conn.execute(
            sa.text("SELECT value FROM headway_meta WHERE \"key\" = 'schema_version'")
        ).scalar_one()
        assert version == str(SCHEMA_VERSION)
        indexes = _indexes(conn, "headway_audit")
    assert indexes["ix_headway_audit_model_version"] == ["model", "version"]
    assert indexes["ix_headway_audit_model_at"] == ["model", "at"]
    with AuditLog(audit_url) as log:
        assert log.events() == [*expected, added]
        assert log.events(model="churn", version="1") == [*expected[:2], added]


def test_upgraded_0_1_0_database_matches_the_schema(audit_url: str) -> None:
    _make_0_1_0_database(audit_url)
    assert upgrade(audit_url) == HEAD
    assert _schema_differences(audit_url, metadata) == []


def test_0_1_0_database_opened_by_two_processes_at_once(audit_url: str) -> None:
    _make_0_1_0_database(audit_url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_open_and_append, args=(audit_url, w, barrier)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert current_revision(audit_url) == HEAD
    with AuditLog(audit_url) as log:
        events = log.events()
    assert len(events) == len(ROWS_0_1_0) + 2
    assert {e.model for e in events[len(ROWS_0_1_0) :]} == {"w0", "w1"}


def _open_and_append(url: str, worker: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait(timeout=60)
    with AuditLog(url) as log:
        log.record("registered", model=f"w{worker}", version="1")


# --- From revision 0003 (schema version 3) to 0004: the deployment records ----------------

DEPLOYMENTS = "headway_deployments"
MONITORING = "headway_monitoring"
ROLLOUTS = "headway_rollouts"
LEASES = "headway_leases"
FEATURES = "headway_features"
ROW_0003 = {
    "at": datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    "action": "promoted",
    "model": "churn",
    "version": "2",
    "actor": "ana",
    "os_actor": "svc",
    "reason": "beats v1",
    "details": {"previous": "1"},
}


def _alembic(url: str, action: str, revision: str) -> None:
    """Run ``alembic upgrade|downgrade REVISION`` on ``url``, as headway runs its migrations."""
    engine = create_engine(sa.make_url(url))
    try:
        with write_engine(engine).begin() as conn:
            getattr(command, action)(alembic_config(conn), revision)
    finally:
        engine.dispose()


def _schema_version(url: str) -> str:
    with _connect(url) as conn:
        return str(
            conn.execute(
                sa.text("SELECT value FROM headway_meta WHERE \"key\" = 'schema_version'")
            ).scalar_one()
        )


def _metadata_without(*tables: str) -> sa.MetaData:
    kept = sa.MetaData()
    for table in metadata.tables.values():
        if table.name not in tables:
            table.to_metadata(kept)
    return kept


def _make_0003_database(url: str) -> None:
    """A database as a headway of schema version 3 left it, with one audit event."""
    _alembic(url, "upgrade", "0003")
    with _connect(url) as conn:
        conn.execute(
            sa.table(
                "headway_audit",
                *(sa.column(name) for name in ROW_0003 if name != "details"),
                sa.column("details", sa.JSON()),
            ).insert(),
            ROW_0003,
        )


def test_0003_database_is_upgraded_to_0004_keeping_rows(audit_url: str) -> None:
    _make_0003_database(audit_url)
    assert current_revision(audit_url) == "0003"
    assert _schema_version(audit_url) == "3"
    with _connect(audit_url) as conn:
        assert DEPLOYMENTS not in sa.inspect(conn).get_table_names()

    with DeploymentStore(audit_url) as store:
        assert store.get("churn").revision == 0
        written = store.set(
            "churn", candidate="3", mode="canary", weight=0.25, actor="bo", reason="first look"
        )

    assert current_revision(audit_url) == HEAD
    assert _schema_version(audit_url) == str(SCHEMA_VERSION)
    assert _schema_differences(audit_url, metadata) == []
    with AuditLog(audit_url) as log:
        assert log.events() == [AuditEvent(id=1, **ROW_0003)]
    with DeploymentStore(audit_url) as store:
        assert store.get("churn") == written
    assert (written.candidate, written.mode, written.weight, written.revision) == (
        "3",
        "canary",
        0.25,
        1,
    )


def test_0004_downgrade_drops_the_deployments_and_upgrades_again(audit_url: str) -> None:
    with DeploymentStore(audit_url) as store:
        store.set("churn", candidate="2", mode="shadow", weight=0.0, actor="bo")
    with AuditLog(audit_url) as log:
        kept = log.record("registered", model="churn", version="2", actor="bo")

    _alembic(audit_url, "downgrade", "0003")

    assert current_revision(audit_url) == "0003"
    assert _schema_version(audit_url) == "3"
    with _connect(audit_url) as conn:
        assert DEPLOYMENTS not in sa.inspect(conn).get_table_names()
    assert (
        _schema_differences(
            audit_url, _metadata_without(DEPLOYMENTS, MONITORING, ROLLOUTS, LEASES, FEATURES)
        )
        == []
    )

    with AuditLog(audit_url) as log:  # opening upgrades it again, to an empty record
        assert log.events() == [kept]
    assert current_revision(audit_url) == HEAD
    assert _schema_version(audit_url) == str(SCHEMA_VERSION)
    with DeploymentStore(audit_url) as store:
        assert store.get("churn").revision == 0


def test_headway_of_schema_version_3_refuses_the_upgraded_database(
    audit_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DeploymentStore(audit_url) as store:
        store.set("churn", candidate="2", mode="canary", weight=0.1, actor="bo")
    before = _snapshot(audit_url)
    # A headway of schema version 3: the same code, shipping migrations 0001..0003 only.
    older = tmp_path / "migrations-0003"
    shutil.copytree(
        migrate._MIGRATIONS_DIR,
        older,
        ignore=shutil.ignore_patterns("0004_*", "0005_*", "0006_*", "0007_*", "__pycache__"),
    )
    assert sorted(p.name for p in (older / "versions").glob("*.py"))[-1].startswith("0003_")
    monkeypatch.setattr(migrate, "_MIGRATIONS_DIR", older)
    monkeypatch.setattr(migrate, "SCHEMA_VERSION", 3)
    assert head_revision() == "0003"

    for opening in (AuditLog, DeploymentStore, upgrade):
        with pytest.raises(HeadwayError, match="written by a newer headway") as info:
            opening(audit_url)
        message = str(info.value)
        assert f"migration revision {HEAD}" in message
        assert "knows version 3 (migration revision 0003)" in message
        assert NEWER in message

    assert _snapshot(audit_url) == before


# --- A fresh database --------------------------------------------------------------------


def test_fresh_database_has_exactly_the_schema(audit_url: str) -> None:
    AuditLog(audit_url).close()
    with _connect(audit_url) as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables == {*metadata.tables, VERSION_TABLE}
    assert _schema_differences(audit_url, metadata) == []


def test_schema_comparison_sees_a_model_change_without_migration(audit_url: str) -> None:
    AuditLog(audit_url).close()
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["headway_audit"].append_column(sa.Column("extra", sa.Integer()))
    differences = _schema_differences(audit_url, changed)
    assert [(d[0], d[3].name) for d in differences] == [("add_column", "extra")]


def test_opening_twice_changes_nothing_the_second_time(
    audit_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alembic")
    with AuditLog(audit_url) as log:
        log.record("registered", model="m", version="1")
    first = [r.getMessage() for r in caplog.records if "Running upgrade" in r.getMessage()]
    assert len(first) == 7  # -> 0001, 0001 -> 0002, ..., 0006 -> 0007
    before = _snapshot(audit_url)
    caplog.clear()

    AuditLog(audit_url).close()

    assert [r.getMessage() for r in caplog.records if "Running" in r.getMessage()] == []
    assert _snapshot(audit_url) == before
    assert upgrade(audit_url) == HEAD
    assert _snapshot(audit_url) == before


def test_upgrade_and_current_revision(tmp_path: Path) -> None:
    url = default_url(tmp_path / "state")
    assert current_revision(url) is None
    assert not (tmp_path / "state").exists()  # reading the revision creates nothing
    assert upgrade(url) == HEAD
    assert current_revision(url) == HEAD
    with AuditLog(url) as log:
        assert log.events() == []


def test_threads_opening_at_once(tmp_path: Path) -> None:
    urls = [default_url(tmp_path / f"s{i % 3}") for i in range(6)]
    errors: list[BaseException] = []

    def open_one(url: str) -> None:
        try:
            AuditLog(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert {current_revision(url) for url in urls} == {HEAD}


# --- Databases this headway must not touch -------------------------------------------------


def test_unknown_revision_is_refused_unchanged(audit_url: str) -> None:
    with AuditLog(audit_url) as log:
        log.record("registered", model="m", version="1")
    _set(audit_url, "UPDATE headway_alembic_version SET version_num = :v", v="0099")
    before = _snapshot(audit_url)

    with pytest.raises(HeadwayError, match="written by a newer headway") as info:
        AuditLog(audit_url)

    message = str(info.value)
    assert "migration revision 0099" in message
    assert f"migration revision {HEAD}" in message
    assert NEWER in message
    assert _snapshot(audit_url) == before


def test_newer_schema_version_is_refused_unchanged(audit_url: str) -> None:
    with AuditLog(audit_url) as log:
        log.record("registered", model="m", version="1")
    newer = str(SCHEMA_VERSION + 1)
    _set(audit_url, "UPDATE headway_meta SET value = :v WHERE \"key\" = 'schema_version'", v=newer)
    before = _snapshot(audit_url)

    with pytest.raises(HeadwayError, match="written by a newer headway") as info:
        upgrade(audit_url)

    message = str(info.value)
    assert f"schema version {newer}" in message
    assert f"knows version {SCHEMA_VERSION}" in message
    assert NEWER in message
    assert _snapshot(audit_url) == before


def test_newer_schema_version_without_revision_is_refused_unchanged(audit_url: str) -> None:
    newer = SCHEMA_VERSION + 1
    _make_0_1_0_database(audit_url, schema_version=str(newer))
    before = _snapshot(audit_url)

    with pytest.raises(HeadwayError, match=f"schema version {newer}, written by a newer headway"):
        AuditLog(audit_url)

    assert _snapshot(audit_url) == before


def test_schema_version_not_a_number_is_refused_unchanged(audit_url: str) -> None:
    _make_0_1_0_database(audit_url, schema_version="one")
    before = _snapshot(audit_url)

    with pytest.raises(HeadwayError, match="not a headway control-plane database") as info:
        AuditLog(audit_url)

    assert "'one', not a number" in str(info.value)
    assert _snapshot(audit_url) == before


def test_password_is_hidden_in_errors() -> None:
    url = "postgresql+psycopg://headway:s3cret-pw@127.0.0.1:1/headway?connect_timeout=5"
    with pytest.raises(HeadwayError) as opened:
        AuditLog(url)
    with pytest.raises(HeadwayError) as upgraded:
        upgrade(url)
    for info in (opened, upgraded):
        message = str(info.value)
        assert "s3cret-pw" not in message
        assert "headway:***@127.0.0.1" in message


# --- From revision 0005 to 0006: rollouts and leases ------------------------------------


def test_0006_downgrade_drops_rollouts_and_leases_and_upgrades_again(audit_url: str) -> None:
    with AuditLog(audit_url) as log:
        kept = log.record("registered", model="churn", version="2", actor="bo")

    _alembic(audit_url, "downgrade", "0005")

    assert current_revision(audit_url) == "0005"
    assert _schema_version(audit_url) == "5"
    with _connect(audit_url) as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert ROLLOUTS not in tables and LEASES not in tables
    assert MONITORING in tables
    assert _schema_differences(audit_url, _metadata_without(ROLLOUTS, LEASES, FEATURES)) == []

    with AuditLog(audit_url) as log:
        assert log.events() == [kept]
    assert current_revision(audit_url) == HEAD
    assert _schema_version(audit_url) == str(SCHEMA_VERSION)
    assert _schema_differences(audit_url, metadata) == []
