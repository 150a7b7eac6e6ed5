"""Conformance suite of the deployment records, run on every backend that can be started here.

``sqlite`` always runs; ``postgresql`` runs on a throwaway cluster when one can be started
(see ``conftest.py``), and is skipped with the reason otherwise.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headway.controlplane import (
    MODES,
    AuditLog,
    Deployment,
    DeploymentStore,
    default_actor,
    default_url,
)
from headway.controlplane.deployments import default_deployment
from headway.project import Project


@pytest.fixture
def store(audit_url: str) -> Iterator[DeploymentStore]:
    with DeploymentStore(audit_url) as opened:
        yield opened


def test_modes() -> None:
    assert MODES == ("single", "shadow", "canary", "ab")


def test_a_model_never_set_serves_its_champion_alone(store: DeploymentStore) -> None:
    record = store.get("churn")
    assert record == default_deployment("churn")
    assert (record.model, record.candidate, record.mode, record.weight) == (
        "churn",
        None,
        "single",
        0.0,
    )
    assert (record.entity_column, record.revision, record.updated_at) == (None, 0, None)
    assert record.as_dict() == {
        "model": "churn",
        "candidate": None,
        "mode": "single",
        "weight": 0.0,
        "entity_column": None,
        "revision": 0,
        "updated_at": None,
        "actor": None,
        "os_actor": None,
        "reason": "",
    }


def test_set_and_get_round_trip(store: DeploymentStore) -> None:
    written = store.set(
        "churn",
        candidate="4",
        mode="ab",
        weight=0.3,
        entity_column="customer_id",
        actor="ana",
        reason="sticky test of v4",
    )
    assert isinstance(written, Deployment)
    assert written == Deployment(
        model="churn",
        candidate="4",
        mode="ab",
        weight=0.3,
        entity_column="customer_id",
        revision=1,
        updated_at=written.updated_at,
        actor="ana",
        os_actor=default_actor(),
        reason="sticky test of v4",
    )
    assert written.updated_at is not None
    assert written.updated_at.tzinfo is not None
    assert written.updated_at.utcoffset() == timedelta(0)
    assert abs(written.updated_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert store.get("churn") == written
    assert store.get("fraud") == default_deployment("fraud")  # records are per model
    doc = written.as_dict()
    assert doc["updated_at"] == written.updated_at.isoformat()
    assert (doc["mode"], doc["weight"], doc["entity_column"]) == ("ab", 0.3, "customer_id")


def test_revision_increases_with_every_change(store: DeploymentStore) -> None:
    steps: list[dict[str, Any]] = [
        {"candidate": "2", "mode": "shadow", "weight": 0.0},
        {"candidate": "2", "mode": "canary", "weight": 0.05},
        {"candidate": "2", "mode": "canary", "weight": 1.0},
        {"candidate": None, "mode": "single", "weight": 0.0},
    ]
    revisions = [store.set("churn", **step).revision for step in steps]
    assert revisions == [1, 2, 3, 4]
    final = store.get("churn")
    assert (final.candidate, final.mode, final.weight, final.revision) == (None, "single", 0.0, 4)
    assert final.actor == default_actor()
    other = store.set("fraud", candidate="1", mode="shadow", weight=0)
    assert other.revision == 1
    assert store.get("churn").revision == 4


def test_update_returns_the_record_it_replaced(store: DeploymentStore) -> None:
    before, first = store.update("churn", candidate="2", mode="canary", weight=0.1)
    assert before == default_deployment("churn")
    previous, second = store.update("churn", candidate="3", mode="shadow", weight=0.0)
    assert previous == first
    assert (second.candidate, second.mode, second.revision) == ("3", "shadow", 2)


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"candidate": "2", "mode": "blue_green", "weight": 0.1}, r"^mode 'blue_green' is unknown"),
    ({"candidate": "2", "mode": "canary", "weight": 1.5}, r"^weight must be between 0 and 1"),
    ({"candidate": "2", "mode": "canary", "weight": -0.1}, r"^weight must be between 0 and 1"),
    ({"candidate": "2", "mode": "canary", "weight": float("nan")}, r"^weight must be between"),
    ({"candidate": "2", "mode": "canary", "weight": "0.1"}, r"^weight must be a number"),
    ({"candidate": "2", "mode": "canary", "weight": True}, r"^weight must be a number"),
    ({"candidate": "2", "mode": "canary", "weight": 0.0}, r"^weight must be above 0"),
    ({"candidate": None, "mode": "canary", "weight": 0.1}, r"^candidate is required"),
    ({"candidate": "", "mode": "canary", "weight": 0.1}, r"^candidate must be a non-empty"),
    ({"candidate": "2", "mode": "single", "weight": 0.0}, r"^candidate must be empty"),
    ({"candidate": None, "mode": "single", "weight": 0.2}, r"^weight must be 0 in mode 'single'"),
    ({"candidate": "2", "mode": "shadow", "weight": 0.5}, r"^weight must be 0 in mode 'shadow'"),
    ({"candidate": None, "mode": "shadow", "weight": 0.0}, r"^candidate is required"),
    (
        {"candidate": "2", "mode": "ab", "weight": 1.0, "entity_column": "customer_id"},
        r"^weight must be strictly between 0 and 1 in mode 'ab'",
    ),
    (
        {"candidate": "2", "mode": "ab", "weight": 0.0, "entity_column": "customer_id"},
        r"^weight must be strictly between 0 and 1 in mode 'ab'",
    ),
    ({"candidate": "2", "mode": "ab", "weight": 0.5}, r"^entity_column is required"),
    (
        {"candidate": "2", "mode": "ab", "weight": 0.5, "entity_column": " "},
        r"^entity_column must be a non-empty",
    ),
    (
        {"candidate": "2", "mode": "canary", "weight": 0.1, "entity_column": "customer_id"},
        r"^entity_column is only for mode 'ab'",
    ),
    ({"candidate": "2", "mode": "canary", "weight": 0.1, "actor": ""}, r"^actor must be"),
    ({"candidate": "2", "mode": "canary", "weight": 0.1, "reason": 3}, r"^reason must be"),
    ({"candidate": "9" * 65, "mode": "canary", "weight": 0.1}, r"^candidate .* is longer"),
]


@pytest.mark.parametrize(("settings", "message"), INVALID)
def test_invalid_input_is_refused_naming_the_field_and_nothing_changes(
    store: DeploymentStore, settings: dict[str, Any], message: str
) -> None:
    kept = store.set("churn", candidate="1", mode="shadow", weight=0.0, reason="kept")
    with pytest.raises(ValueError, match=message):
        store.set("churn", **settings)
    assert store.get("churn") == kept
    with pytest.raises(ValueError, match=message):
        store.set("fresh", **settings)
    assert store.get("fresh") == default_deployment("fresh")


def test_empty_model_is_refused(store: DeploymentStore) -> None:
    with pytest.raises(ValueError, match=r"^model must be"):
        store.set("", candidate="1", mode="shadow", weight=0.0)
    with pytest.raises(ValueError, match=r"^model must be"):
        store.get("")


def test_persists_across_instances_and_shares_the_audit_database(audit_url: str) -> None:
    with DeploymentStore(audit_url) as first:
        written = first.set("churn", candidate="5", mode="canary", weight=0.2, actor="bo")
    with AuditLog(audit_url) as log:  # one control-plane database holds both
        log.record("traffic", model="churn", version="5", details={"revision": 1})
    with DeploymentStore(audit_url) as second:
        assert second.get("churn") == written
        again = second.set("churn", candidate=None, mode="single", weight=0.0)
    with DeploymentStore(audit_url) as third:
        assert third.get("churn") == again
        assert third.get("churn").revision == 2


def test_for_project_uses_the_project_store(tmp_path: Path) -> None:
    (tmp_path / "headway.yaml").write_text(
        "name: p\ntask: binary\ndata:\n  source: {path: data.csv}\n  target: y\n"
    )
    project = Project.load(tmp_path)
    with DeploymentStore.for_project(project) as store:
        store.set("p", candidate="1", mode="shadow", weight=0.0)
    assert (project.state_dir / "control.db").is_file()
    with DeploymentStore(default_url(project.state_dir)) as again:
        assert again.get("p").revision == 1
    other = default_url(tmp_path / "elsewhere")
    with DeploymentStore.for_project(project, url=other) as elsewhere:
        assert elsewhere.get("p").revision == 0
    assert (tmp_path / "elsewhere" / "control.db").is_file()


# --- Concurrent writers -------------------------------------------------------------------

WRITES_PER_WORKER = 10


def _set_many(url: str, worker: int, barrier: Any) -> None:
    barrier.wait(timeout=60)  # open (maybe create the schema) and write at the same time
    with DeploymentStore(url) as store:
        for i in range(WRITES_PER_WORKER):
            weight = round(0.01 * (i + 1), 2)
            store.set("churn", candidate=str(worker + 1), mode="canary", weight=weight)


def test_two_processes_setting_at_once_are_both_counted(audit_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_set_many, args=(audit_url, w, barrier)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [proc.exitcode for proc in procs] == [0, 0]
    with DeploymentStore(audit_url) as store:
        final = store.get("churn")
    assert final.revision == 2 * WRITES_PER_WORKER
    assert final.candidate in {"1", "2"}
    assert final.weight == 0.1  # each worker's last write


def test_threads_setting_at_once_are_all_counted(audit_url: str) -> None:
    DeploymentStore(audit_url).close()  # the schema first; the threads race on the record
    threads_n = 4
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    revisions: list[int] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            with DeploymentStore(audit_url) as store:
                barrier.wait(timeout=60)
                for _ in range(5):
                    record = store.set("churn", candidate=str(worker), mode="shadow", weight=0)
                    with lock:
                        revisions.append(record.revision)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert errors == []
    assert sorted(revisions) == list(range(1, threads_n * 5 + 1))  # no revision given twice
    with DeploymentStore(audit_url) as store:
        assert store.get("churn").revision == threads_n * 5
