"""Conformance suite of the audit log, run on every backend that can be started here.

``sqlite`` always runs; ``postgresql`` runs on a throwaway cluster when one can be started
(see ``conftest.py``), and is skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from headway.controlplane import (
    AUDIT_ACTIONS,
    SCHEMA_VERSION,
    AuditEvent,
    AuditLog,
    default_actor,
    default_url,
)
from headway.exceptions import ConfigError, HeadwayError
from headway.project import Project

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def log(audit_url: str) -> Iterator[AuditLog]:
    with AuditLog(audit_url) as opened:
        yield opened


# --- The suite ----------------------------------------------------------------------------


def test_record_and_read_back(log: AuditLog) -> None:
    details = {"gates": {"roc_auc": {"value": 0.91, "min": 0.7, "passed": True}}, "prev": "2"}
    first = log.record(
        "blessed", model="churn", version="3", actor="ana", reason="beats v2", details=details
    )
    second = log.record("promoted", model="churn", version="3", at=T0 + timedelta(days=9999))

    assert isinstance(first, AuditEvent)
    assert (first.action, first.model, first.version, first.actor) == (
        "blessed",
        "churn",
        "3",
        "ana",
    )
    assert first.reason == "beats v2"
    assert first.details == details
    assert second.id > first.id
    assert second.actor == default_actor()
    assert second.reason == "" and second.details == {}

    stored = log.events()
    assert stored == [first, second]
    for event in stored:
        assert event.at.tzinfo is not None
        assert event.at.utcoffset() == timedelta(0)
    assert abs(stored[0].at - datetime.now(UTC)) < timedelta(minutes=5)
    assert stored[1].at == T0 + timedelta(days=9999)
    assert stored[0].details["gates"]["roc_auc"]["passed"] is True


def test_time_in_another_zone_is_stored_as_utc(log: AuditLog) -> None:
    plus_two = datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    event = log.record("approved", model="m", version="1", at=plus_two)
    (stored,) = log.events()
    assert stored.at == plus_two
    assert stored.at.tzinfo == UTC and stored.at.hour == 12
    assert stored == event


def test_details_are_stored_as_json(log: AuditLog) -> None:
    event = log.record("blessed", model="m", version="1", details={"pair": (1, 2), "n": None})
    assert event.details == {"pair": [1, 2], "n": None}
    assert log.events()[0].details == event.details


def test_filters(log: AuditLog) -> None:
    log.record("registered", model="a", version="1", at=T0)
    log.record("blessed", model="a", version="1", at=T0 + timedelta(hours=1))
    log.record("promoted", model="a", version="1", at=T0 + timedelta(hours=2))
    log.record("registered", model="a", version="2", at=T0 + timedelta(hours=3))
    log.record("not_blessed", model="a", version="2", at=T0 + timedelta(hours=4))
    log.record("registered", model="b", version="1", at=T0 + timedelta(hours=5))
    log.record("archived", model="b", at=T0 + timedelta(hours=6))

    def actions(events: list[AuditEvent]) -> list[tuple[str, str, str | None]]:
        return [(e.model, e.action, e.version) for e in events]

    assert len(log.events()) == 7
    assert [e.at for e in log.events()] == sorted(e.at for e in log.events())
    assert actions(log.events(model="b")) == [("b", "registered", "1"), ("b", "archived", None)]
    assert actions(log.events(model="a", version="2")) == [
        ("a", "registered", "2"),
        ("a", "not_blessed", "2"),
    ]
    assert actions(log.events(action="registered")) == [
        ("a", "registered", "1"),
        ("a", "registered", "2"),
        ("b", "registered", "1"),
    ]
    since = log.events(since=T0 + timedelta(hours=4))
    assert actions(since) == [
        ("a", "not_blessed", "2"),
        ("b", "registered", "1"),
        ("b", "archived", None),
    ]
    # since in another zone means the same instant
    plus_one = timezone(timedelta(hours=1))
    assert log.events(since=(T0 + timedelta(hours=4)).astimezone(plus_one)) == since
    # limit keeps the newest, still oldest first
    assert actions(log.events(limit=2)) == [("b", "registered", "1"), ("b", "archived", None)]
    assert actions(log.events(model="a", action="registered", limit=1)) == [
        ("a", "registered", "2")
    ]
    assert log.events(model="nope") == []
    assert log.events(since=T0 + timedelta(days=1)) == []


def test_events_ordered_by_time_not_by_insertion(log: AuditLog) -> None:
    late = log.record("promoted", model="m", version="2", at=T0 + timedelta(hours=1))
    early = log.record("blessed", model="m", version="2", at=T0)
    assert log.events() == [early, late]


def test_unknown_action_names_the_allowed_ones(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit action 'deployed'") as info:
        log.record("deployed", model="m", version="1")
    for action in AUDIT_ACTIONS:
        assert action in str(info.value)
    with pytest.raises(ValueError, match="unknown audit action"):
        log.events(action="deployed")
    assert log.events() == []


def test_non_json_details_name_the_key(log: AuditLog) -> None:
    with pytest.raises(ValueError, match=r"details\['when'\]"):
        log.record("blessed", model="m", version="1", details={"ok": 1, "when": datetime.now()})
    with pytest.raises(ValueError, match=r"details\['score'\]"):
        log.record("blessed", model="m", version="1", details={"score": float("nan")})
    with pytest.raises(ValueError, match="details key 3"):
        log.record("blessed", model="m", version="1", details={3: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="JSON object"):
        log.record("blessed", model="m", version="1", details=["x"])  # type: ignore[arg-type]
    assert log.events() == []  # nothing half-written


def test_other_invalid_values(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        log.record("blessed", model="m", version="1", at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="model"):
        log.record("blessed", model="", version="1")
    with pytest.raises(ValueError, match="timezone-aware"):
        log.events(since=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="limit"):
        log.events(limit=0)


def test_persists_across_instances(audit_url: str) -> None:
    with AuditLog(audit_url) as first:
        written = first.record("rolled_back", model="m", version="4", reason="latency", at=T0)
    with AuditLog(audit_url) as second:
        assert second.events() == [written]
        again = second.record("forced", model="m", version="5", details={"blessed": False})
    with AuditLog(audit_url) as third:
        assert third.events() == [written, again]


def _append_many(
    url: str, worker: int, count: int, barrier: multiprocessing.synchronize.Barrier
) -> None:
    barrier.wait(timeout=60)  # open (create the schema) and append at the same time
    with AuditLog(url) as audit:
        for i in range(count):
            audit.record(
                "registered", model=f"w{worker}", version=str(i), details={"worker": worker}
            )


def test_two_processes_append_concurrently(audit_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_many, args=(audit_url, w, 50, barrier)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [proc.exitcode for proc in procs] == [0, 0]

    with AuditLog(audit_url) as audit:
        events = audit.events()
        assert len(events) == 100
        assert len({e.id for e in events}) == 100
        for worker in range(2):
            mine = audit.events(model=f"w{worker}")
            assert sorted(int(e.version or -1) for e in mine) == list(range(50))


def test_newer_schema_version_asks_to_upgrade(audit_url: str) -> None:
    AuditLog(audit_url).close()
    engine = sa.create_engine(audit_url)
    try:
        with engine.begin() as conn:
            found = conn.execute(
                sa.text("SELECT value FROM headway_meta WHERE key = 'schema_version'")
            ).scalar_one()
            assert int(found) == SCHEMA_VERSION
            conn.execute(
                sa.text("UPDATE headway_meta SET value = :v WHERE key = 'schema_version'"),
                {"v": str(SCHEMA_VERSION + 1)},
            )
    finally:
        engine.dispose()
    with pytest.raises(HeadwayError, match="Upgrade headway") as info:
        AuditLog(audit_url)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)


def test_as_dict_is_json_ready(log: AuditLog) -> None:
    event = log.record(
        "approved", model="m", version="7", actor="bo", reason="ok", details={"a": [1, 2.5]}
    )
    data = json.loads(json.dumps(event.as_dict()))
    assert data["id"] == event.id
    assert datetime.fromisoformat(data["at"]) == event.at
    assert data["details"] == {"a": [1, 2.5]}
    assert set(data) == {
        "id", "at", "action", "model", "version", "actor", "os_actor", "reason", "details"
    }  # fmt: skip


# --- SQLite and project specifics ---------------------------------------------------------


def test_default_url_and_for_project(tmp_path: Path) -> None:
    (tmp_path / "headway.yaml").write_text(
        "name: p\ntask: binary\ndata:\n  source: {path: data.csv}\n  target: y\n"
    )
    project = Project.load(tmp_path)
    url = default_url(project.state_dir)
    assert url == f"sqlite:///{tmp_path / '.headway' / 'control.db'}"
    assert not project.state_dir.exists()
    with AuditLog.for_project(project) as audit:
        audit.record("registered", model="p", version="1")
    assert (project.state_dir / "control.db").is_file()
    with AuditLog(url) as audit:
        assert [e.action for e in audit.events()] == ["registered"]
    other = default_url(tmp_path / "elsewhere")
    with AuditLog.for_project(project, url=other) as audit:
        assert audit.events() == []
    assert (tmp_path / "elsewhere" / "control.db").is_file()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    url = default_url(tmp_path / "s")
    AuditLog(url).close()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("headway_audit")}
            assert "ix_headway_audit_model_at" in indexes
    finally:
        engine.dispose()


def test_bad_url_and_missing_driver_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="malformed"):
        AuditLog("not a url")
    with pytest.raises(ConfigError, match="driver"):
        AuditLog("nosuchdialect://x/y")


def test_default_actor_is_a_name() -> None:
    assert isinstance(default_actor(), str) and default_actor()


def test_the_os_user_is_recorded_beside_the_claimed_actor(tmp_path: Path) -> None:
    with AuditLog(f"sqlite:///{tmp_path / 'control.db'}") as log:
        claimed = log.record("approved", model="m", version="1", actor="alice", reason="ok")
        default = log.record("archived", model="m", version="2", reason="old")
        stored = log.events()
    me = default_actor()
    assert (claimed.actor, claimed.os_actor) == ("alice", me)
    assert (default.actor, default.os_actor) == (me, me)
    assert [(e.actor, e.os_actor) for e in stored] == [("alice", me), (me, me)]
    assert stored[0].as_dict()["os_actor"] == me
