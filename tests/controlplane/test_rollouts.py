"""Conformance suite of the rollout records and the leases, on every backend that starts here.

``sqlite`` always runs; ``postgresql`` runs on a throwaway cluster when one can be started
(see ``conftest.py``), and is skipped with the reason otherwise.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from headway.controlplane import (
    LeaseStore,
    RolloutConflictError,
    RolloutStore,
    StaleRolloutError,
)
from headway.exceptions import HeadwayError

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def rollouts(audit_url: str) -> Iterator[RolloutStore]:
    with RolloutStore(audit_url) as opened:
        yield opened


@pytest.fixture
def leases(audit_url: str) -> Iterator[LeaseStore]:
    with LeaseStore(audit_url) as opened:
        yield opened


def _start(store: RolloutStore, model: str = "churn", candidate: str = "3") -> object:
    return store.start(
        model,
        candidate=candidate,
        champion="2",
        strategy="progressive",
        state={"steps": [{"mode": "shadow"}], "p_value": 1.0},
        reason="drift",
        at=T0,
    )


def test_a_started_rollout_is_running_at_step_0(rollouts: RolloutStore) -> None:
    started = rollouts.start(
        "churn",
        candidate="3",
        champion="2",
        strategy="progressive",
        state={"steps": [{"mode": "shadow"}, {"mode": "canary", "weight": 0.05}]},
        reason="drift",
        at=T0,
    )
    assert (started.status, started.step, started.revision, started.active) == (
        "running",
        0,
        1,
        True,
    )
    assert started.started_at == started.step_started_at == T0
    assert rollouts.active("churn") == started
    assert rollouts.get(started.id) == started
    assert rollouts.active("other") is None
    assert started.as_dict()["state"]["steps"][1]["weight"] == 0.05


def test_one_active_rollout_per_model(rollouts: RolloutStore) -> None:
    first = rollouts.start("churn", candidate="3", champion="2", strategy="progressive", state={})
    with pytest.raises(RolloutConflictError, match=r"already has an active rollout .*version 3"):
        rollouts.start("churn", candidate="4", champion="2", strategy="progressive", state={})
    other = rollouts.start("credit", candidate="1", champion=None, strategy="direct", state={})
    assert [r.id for r in rollouts.history("churn")] == [first.id]
    assert other.model == "credit"

    rollouts.update(first, status="aborted", reason="by hand")
    again = rollouts.start("churn", candidate="4", champion="2", strategy="ab", state={})
    assert [r.candidate for r in rollouts.history("churn")] == ["4", "3"]
    assert rollouts.active("churn") == again


def test_update_advances_and_ends(rollouts: RolloutStore) -> None:
    started = rollouts.start(
        "churn", candidate="3", champion="2", strategy="progressive", state={}, at=T0
    )
    later = T0 + timedelta(minutes=5)
    advanced = rollouts.update(started, step=1, state={"p_value": 0.4}, at=later)
    assert (advanced.step, advanced.revision, advanced.step_started_at) == (1, 2, later)
    assert advanced.state == {"p_value": 0.4}
    assert advanced.started_at == T0

    held = rollouts.update(advanced, state={"p_value": 0.3}, at=later + timedelta(minutes=1))
    assert held.step_started_at == later  # the same step keeps its clock

    end = later + timedelta(minutes=9)
    ended = rollouts.update(held, status="promoted", reason="better", at=end)
    assert (ended.status, ended.ended_at, ended.active, ended.reason) == (
        "promoted",
        end,
        False,
        "better",
    )
    assert rollouts.active("churn") is None
    with pytest.raises(HeadwayError, match="has ended"):
        rollouts.update(ended, status="rolled_back")


def test_a_stale_update_writes_nothing(rollouts: RolloutStore) -> None:
    started = rollouts.start("churn", candidate="3", champion="2", strategy="direct", state={})
    paused = rollouts.update(started, status="paused", reason="a person looks")
    with pytest.raises(StaleRolloutError, match="changed since it was read"):
        rollouts.update(started, step=2)  # decided on revision 1, the row is at 2
    assert rollouts.get(started.id) == paused


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"status": "done"}, "status 'done' is unknown"),
        ({"step": -1}, "step must be 0 or more"),
        ({"state": {"x": float("nan")}}, "not JSON"),
    ],
)
def test_bad_updates_are_refused(
    rollouts: RolloutStore, change: dict[str, object], match: str
) -> None:
    started = rollouts.start("churn", candidate="3", champion="2", strategy="direct", state={})
    with pytest.raises(ValueError, match=match):
        rollouts.update(started, **change)  # type: ignore[arg-type]
    assert rollouts.get(started.id) == started


def test_bad_starts_are_refused(rollouts: RolloutStore) -> None:
    with pytest.raises(ValueError, match="strategy 'blue-green' is unknown"):
        rollouts.start("churn", candidate="3", champion="2", strategy="blue-green", state={})
    with pytest.raises(ValueError, match="candidate must be a non-empty string"):
        rollouts.start("churn", candidate="", champion="2", strategy="direct", state={})
    assert rollouts.active("churn") is None


def test_missing_rollout(rollouts: RolloutStore) -> None:
    with pytest.raises(HeadwayError, match="no rollout #41"):
        rollouts.get(41)


# --- Leases ---------------------------------------------------------------------------------


def test_one_holder_until_the_lease_expires(leases: LeaseStore) -> None:
    ttl = timedelta(minutes=2)
    first = leases.acquire("autopilot:churn", holder="pod-a", ttl=ttl, now=T0)
    assert first is not None and first.expires_at == T0 + ttl
    assert leases.acquire("autopilot:churn", holder="pod-b", ttl=ttl, now=T0) is None
    # Renewing keeps the holder and its start, and moves the expiry.
    renewed = leases.acquire(
        "autopilot:churn", holder="pod-a", ttl=ttl, now=T0 + timedelta(minutes=1)
    )
    assert renewed is not None
    assert (renewed.acquired_at, renewed.expires_at) == (T0, T0 + timedelta(minutes=3))
    assert leases.acquire("autopilot:churn", holder="pod-b", ttl=ttl, now=T0 + ttl) is None
    # pod-a stopped renewing: after expiry pod-b takes over.
    taken = leases.acquire(
        "autopilot:churn", holder="pod-b", ttl=ttl, now=T0 + timedelta(minutes=3, seconds=1)
    )
    assert taken is not None and taken.holder == "pod-b"
    assert leases.get("autopilot:churn") == taken
    # Another name is another lease.
    assert leases.acquire("autopilot:credit", holder="pod-a", ttl=ttl, now=T0) is not None


def test_release_only_by_its_holder(leases: LeaseStore) -> None:
    leases.acquire("autopilot:churn", holder="pod-a", ttl=timedelta(minutes=2))
    assert leases.release("autopilot:churn", holder="pod-b") is False
    assert leases.release("autopilot:churn", holder="pod-a") is True
    assert leases.get("autopilot:churn") is None
    assert leases.acquire("autopilot:churn", holder="pod-b", ttl=timedelta(minutes=2))


def test_a_lease_needs_a_positive_ttl(leases: LeaseStore) -> None:
    with pytest.raises(ValueError, match="ttl must be longer than zero"):
        leases.acquire("autopilot:churn", holder="pod-a", ttl=timedelta(0))


def _contend(url: str, holder: str, barrier: object, results: object) -> None:
    with LeaseStore(url) as store:
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        got = store.acquire("autopilot:churn", holder=holder, ttl=timedelta(minutes=5))
        results.put((holder, got is not None))  # type: ignore[attr-defined]


def test_two_processes_never_both_hold_the_lease(audit_url: str) -> None:
    LeaseStore(audit_url).close()  # the schema exists before both race
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(audit_url, f"pod-{i}", barrier, results))
        for i in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    outcomes = [results.get(timeout=5) for _ in procs]
    winners = [holder for holder, won in outcomes if won]
    assert len(winners) == 1
    with LeaseStore(audit_url) as store:
        lease = store.get("autopilot:churn")
    assert lease is not None and lease.holder == winners[0]
