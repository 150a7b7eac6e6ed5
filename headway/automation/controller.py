"""The autopilot: one controller per project that closes the loop by itself.

Each pass of :meth:`Autopilot.run_once`:

1. takes (or renews) the project's lease ``autopilot:<model>`` in the control plane; when
   another controller holds it, the pass does nothing and says who holds it;
2. with an active rollout: reads what the rollout has seen in the prediction log (and the
   servers' counters), decides (:func:`~headway.automation.rollout.decide_rollout`) and
   applies the decision: the deployment record for advance, the ``champion`` alias for
   promote, the champion alone again for roll back or expire; every step is an audit event
   with its evidence;
3. without one: starts the rollout of a ``challenger`` that is blessed (and, under
   ``promotion: manual``, approved), or else checks the triggers and, when one fires,
   retrains (:func:`~headway.automation.retrain.retrain`); a blessed retrained version
   becomes ``challenger`` and its rollout starts in the same pass.

The rollout's state lives in the control plane (:class:`~headway.controlplane.RolloutStore`):
a controller killed in the middle of a canary continues from the recorded step when it, or
another one, starts again; a rollout older than ``rollout.max_duration`` ends there and
then. Promotion goes through :meth:`~headway.registry.governance.Governor.promote` without
``force``, so no alias ever lands on a version that failed its gates.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headway.automation.evidence import observe, online_metric, scrape_errors
from headway.automation.retrain import new_label_count, retrain, trained_at
from headway.automation.rollout import (
    RolloutDecision,
    decide_rollout,
    describe_step,
    plan_steps,
)
from headway.automation.triggers import check_triggers
from headway.config.monitoring import duration
from headway.controlplane import (
    AuditLog,
    DeploymentStore,
    LeaseStore,
    MonitoringStore,
    Rollout,
    RolloutStore,
    StaleRolloutError,
)
from headway.exceptions import DataError, GovernanceError, HeadwayError, TrainingError
from headway.predictions import open_prediction_log
from headway.project import Project
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry, ModelVersionInfo, layout
from headway.registry.governance import Governor, approval_of

__all__ = ["ACTOR", "Autopilot", "PassReport"]

logger = logging.getLogger(__name__)

ACTOR = "autopilot"


@dataclass
class PassReport:
    """What one pass saw and did."""

    at: datetime
    model: str
    holder: str
    lease: str  # "held" or "waiting"
    events: list[dict[str, Any]] = field(default_factory=list)
    rollout: dict[str, Any] | None = None
    note: str = ""

    def add(self, event: str, version: str | None, detail: str) -> None:
        self.events.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "event": event,
                "version": version,
                "detail": detail,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "model": self.model,
            "holder": self.holder,
            "lease": self.lease,
            "events": self.events,
            "rollout": self.rollout,
            "note": self.note,
        }


def _default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Autopilot:
    """The controller of one project (see the module).

    Args:
        project: the loaded project (``automation.enabled`` should be true).
        holder: this controller's name in the lease (default: host, pid and a random tag).
        clock: the time now, UTC (tests pass their own).
    """

    def __init__(
        self,
        project: Project,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.project = project
        self.config = project.config.automation
        self.model = project.config.model_name
        self.holder = holder or _default_holder()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.registry = ModelRegistry(project.tracking_uri, project.registry_uri)

    # -- the loop ------------------------------------------------------------------------

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        on_pass: Callable[[PassReport], None] | None = None,
        max_passes: int | None = None,
    ) -> None:
        """Pass after pass every ``automation.interval`` until ``stop`` is set (or
        ``max_passes``); the lease is given up on the way out."""
        stop = stop or threading.Event()
        interval = duration(self.config.interval, "automation.interval").total_seconds()
        passes = 0
        try:
            while not stop.is_set():
                try:
                    report = self.run_once()
                except HeadwayError as exc:  # a bad pass is logged; the next one tries again
                    logger.error("autopilot pass failed: %s", exc)
                    report = PassReport(self._clock(), self.model, self.holder, "held")
                    report.note = f"pass failed: {exc}"
                if on_pass is not None:
                    on_pass(report)
                passes += 1
                if max_passes is not None and passes >= max_passes:
                    break
                stop.wait(interval)
        finally:
            self.release()

    def release(self) -> None:
        """Give the lease up (another controller may take over at once)."""
        with LeaseStore.for_project(self.project) as leases:
            leases.release(self._lease_name, holder=self.holder)

    @property
    def _lease_name(self) -> str:
        return f"autopilot:{self.model}"

    def run_once(self) -> PassReport:
        """One pass (see the module)."""
        now = self._clock()
        ttl = duration(self.config.lease, "automation.lease")
        with LeaseStore.for_project(self.project) as leases:
            lease = leases.acquire(self._lease_name, holder=self.holder, ttl=ttl, now=now)
            if lease is None:
                current = leases.get(self._lease_name)
                report = PassReport(now, self.model, self.holder, "waiting")
                report.note = (
                    f"another controller ({current.holder if current else '?'}) holds the "
                    "lease; waiting"
                )
                return report
        report = PassReport(now, self.model, self.holder, "held")
        champion = self.registry.version_by_alias(self.model, CHAMPION)
        if champion is None:
            report.note = f"{self.model} has no champion yet: train and promote one first"
            return report
        with (
            RolloutStore.for_project(self.project) as rollouts,
            AuditLog.for_project(self.project) as audit,
            DeploymentStore.for_project(self.project) as deployments,
        ):
            ctx = _Context(self, rollouts, audit, deployments, report, now)
            active = rollouts.active(self.model)
            if active is not None:
                ctx.step(active, champion)
            else:
                challenger = self._eligible_challenger(champion)
                if challenger is not None:
                    ctx.start(challenger, champion)
                else:
                    ctx.triggers(champion)
            latest = rollouts.history(self.model, limit=1)
            report.rollout = latest[0].as_dict() if latest else None
        return report

    def abort(self, *, actor: str, reason: str) -> Rollout:
        """Stop the active rollout by hand, as a rollback ends one: the champion answers
        alone again, the candidate loses ``challenger`` (tag ``headway.rollout=aborted``),
        and a ``rollout_aborted`` audit event names ``actor``.

        Raises:
            HeadwayError: the model has no active rollout.
            StaleRolloutError: the rollout changed meanwhile; nothing is recorded.
        """
        now = self._clock()
        report = PassReport(now, self.model, actor, "held")
        with (
            RolloutStore.for_project(self.project) as rollouts,
            AuditLog.for_project(self.project) as audit,
            DeploymentStore.for_project(self.project) as deployments,
        ):
            active = rollouts.active(self.model)
            if active is None:
                raise HeadwayError(f"{self.model} has no active rollout to abort")
            ctx = _Context(self, rollouts, audit, deployments, report, now, actor=actor)
            ctx._finish(active, "aborted", reason, {"step": active.step + 1})
            return rollouts.get(active.id)

    def _eligible_challenger(self, champion: ModelVersionInfo) -> ModelVersionInfo | None:
        info = self.registry.version_by_alias(self.model, CHALLENGER)
        if info is None or info.version == champion.version or not info.blessed:
            return None
        if info.tags.get(layout.ROLLOUT.name) or info.tags.get(layout.ARCHIVED.name) == "true":
            return None
        state = approval_of(info)
        manual = self.project.config.governance.promotion == "manual"
        if state == "rejected" or ((state == "pending" or manual) and state != "approved"):
            return None
        return info


class _Context:
    """The stores and the report of one pass."""

    def __init__(
        self,
        pilot: Autopilot,
        rollouts: RolloutStore,
        audit: AuditLog,
        deployments: DeploymentStore,
        report: PassReport,
        now: datetime,
        *,
        actor: str = ACTOR,
    ) -> None:
        self.pilot = pilot
        self.actor = actor
        self.rollouts = rollouts
        self.audit = audit
        self.deployments = deployments
        self.report = report
        self.now = now
        self.model = pilot.model
        self.config = pilot.config.rollout
        self.governor = Governor(
            pilot.registry,
            audit,
            pilot.model,
            promotion=pilot.project.config.governance.promotion,
        )

    def record(
        self, action: str, version: str | None, reason: str, details: dict[str, Any]
    ) -> None:
        self.audit.record(
            action,
            model=self.model,
            version=version,
            actor=self.actor,
            reason=reason,
            details=details,
            at=datetime.now(UTC),
        )
        self.report.add(action, version, reason)

    # -- triggers and retraining ---------------------------------------------------------

    def triggers(self, champion: ModelVersionInfo) -> None:
        cfg = self.pilot.config
        retrains = self.audit.events(model=self.model, action="retrain_started", limit=1)
        schedules = [
            e
            for e in self.audit.events(model=self.model, action="trigger_fired", limit=50)
            if e.details.get("trigger") == "schedule"
        ]
        with MonitoringStore.for_project(self.pilot.project) as monitoring:
            window = monitoring.latest(self.model)
        new_rows = new_label_count(self.pilot.project, champion, now=self.now)
        check = check_triggers(
            cfg,
            now=self.now,
            champion_version=champion.version,
            champion_trained_at=trained_at(champion),
            last_retrain_at=retrains[-1].at if retrains else None,
            last_schedule_at=schedules[-1].at if schedules else None,
            new_labelled_rows=new_rows,
            window=window,
        )
        if check.cooling_down_until is not None:
            self.report.note = f"cooling down until {check.cooling_down_until.isoformat()}"
            return
        if not check.fired:
            self.report.note = f"no trigger fired ({new_rows} new labelled rows)"
            return
        if new_rows < cfg.retrain.min_new_rows:
            kinds = ", ".join(f.kind for f in check.firings)
            self.report.note = (
                f"{kinds} fired, but only {new_rows} labelled rows arrived since the champion "
                f"was trained (retrain.min_new_rows {cfg.retrain.min_new_rows}): waiting"
            )
            return
        for firing in check.firings:
            self.record(
                "trigger_fired",
                None,
                firing.reason,
                {"trigger": firing.kind, "evidence": firing.evidence, "champion": champion.version},
            )
        trigger = check.firings[0].kind
        self.record(
            "retrain_started",
            None,
            f"retraining on v{champion.version}'s data + {new_rows} labelled rows ({trigger})",
            {"trigger": trigger, "champion": champion.version, "new_labelled_rows": new_rows},
        )
        try:
            table, result = retrain(self.pilot.project, champion, trigger=trigger, now=self.now)
        except (DataError, TrainingError, HeadwayError) as exc:
            self.record("retrain_failed", None, str(exc), {"trigger": trigger})
            return
        version = result.version.version
        self.record(
            "retrain_finished",
            version,
            ("blessed" if result.blessing.blessed else "not blessed")
            + f": {'; '.join(result.blessing.reasons)}",
            {
                "trigger": trigger,
                "blessed": result.blessing.blessed,
                "run_id": result.run_id,
                "dataset_hash": result.dataset.content_hash,
                "base_rows": table.base_rows,
                "new_rows": table.new_rows,
                "aliases": list(result.version.aliases),
                "duration_seconds": result.duration_seconds,
            },
        )
        challenger = self.pilot._eligible_challenger(champion)
        if challenger is not None and challenger.version == version:
            self.start(challenger, champion)

    # -- rollouts -------------------------------------------------------------------------

    def start(self, candidate: ModelVersionInfo, champion: ModelVersionInfo) -> None:
        steps = plan_steps(self.config)
        metric = online_metric(self.config.metric, self.pilot.project.config.task)
        baseline = None
        if self.config.metrics_urls:
            counts = scrape_errors(
                self.config.metrics_urls, model=self.model, version=candidate.version
            )
            baseline = {"requests": counts.requests, "errors": counts.errors} if counts else None
        rollout = self.rollouts.start(
            self.model,
            candidate=candidate.version,
            champion=champion.version,
            strategy=self.config.strategy,
            state={"steps": steps, "p_value": 1.0, "metric": metric, "error_baseline": baseline},
            reason=f"challenger v{candidate.version} is blessed",
            at=self.now,
        )
        self.record(
            "rollout_started",
            candidate.version,
            f"rollout #{rollout.id}: v{candidate.version} against champion v{champion.version}, "
            f"{' -> '.join(describe_step(s) for s in steps)} -> promote",
            {
                "rollout_id": rollout.id,
                "champion": champion.version,
                "strategy": rollout.strategy,
                "steps": steps,
                "metric": metric,
                "alpha": self.config.alpha,
            },
        )
        self._traffic(rollout.candidate, steps[0], f"rollout #{rollout.id} step 1")

    def _traffic(self, candidate: str | None, step: dict[str, Any] | None, reason: str) -> None:
        if step is None or candidate is None:
            current = self.deployments.get(self.model)
            if current.mode == "single":
                return
            self.governor.set_traffic(
                self.deployments,
                candidate=None,
                mode="single",
                weight=0.0,
                actor=self.actor,
                reason=reason,
            )
            return
        self.governor.set_traffic(
            self.deployments,
            candidate=candidate,
            mode=step["mode"],
            weight=float(step["weight"]),
            entity_column=step.get("entity_column"),
            actor=self.actor,
            reason=reason,
        )

    def step(self, rollout: Rollout, champion: ModelVersionInfo) -> None:
        if champion.version == rollout.candidate:
            # Promoted before the record was closed (the controller stopped in between).
            self._end(rollout, "promoted", "the candidate is already champion", {}, None)
            return
        if rollout.champion is not None and champion.version != rollout.champion:
            self._finish(
                rollout,
                "aborted",
                f"the champion changed from v{rollout.champion} to v{champion.version} "
                "outside the rollout",
                {},
            )
            return
        if rollout.status == "paused":
            self.report.note = f"rollout #{rollout.id} is paused ({rollout.reason})"
            return
        state = dict(rollout.state)
        steps = list(state["steps"])
        project = self.pilot.project
        with open_prediction_log(
            project.predictions_url,
            project.predictions_dir,
            fsync=project.config.predictions.fsync,
        ) as log:
            rows = log.joined(rollout.started_at, self.now)
        errors = (
            scrape_errors(self.config.metrics_urls, model=self.model, version=rollout.candidate)
            if self.config.metrics_urls
            else None
        )
        observation = observe(
            rows,
            model=self.model,
            champion=champion.version,
            candidate=rollout.candidate,
            metric=state.get("metric", "accuracy"),
            since=rollout.started_at,
            until=self.now,
            step_since=rollout.step_started_at,
            errors=errors,
        )
        decision = decide_rollout(
            strategy=rollout.strategy,
            step=rollout.step,
            steps=steps,
            started_at=rollout.started_at,
            previous_p_value=float(state.get("p_value", 1.0)),
            error_baseline=state.get("error_baseline"),
            observation=observation,
            config=self.config,
            now=self.now,
        )
        state.update(p_value=decision.p_value, evidence=decision.evidence)
        try:
            self._apply(rollout, decision, state, steps)
        except StaleRolloutError as exc:  # a person paused or aborted it meanwhile
            self.report.note = str(exc)

    def _apply(
        self,
        rollout: Rollout,
        decision: RolloutDecision,
        state: dict[str, Any],
        steps: list[dict[str, Any]],
    ) -> None:
        details = {"rollout_id": rollout.id, "step": rollout.step + 1, **decision.evidence}
        if decision.action == "hold":
            changed = state.get("last_kind") != decision.kind
            state["last_kind"] = decision.kind
            self.rollouts.update(rollout, state=state, reason=decision.reason, at=self.now)
            if changed:
                self.record("rollout_held", rollout.candidate, decision.reason, details)
            else:
                self.report.note = decision.reason
            return
        if decision.action == "advance":
            state["last_kind"] = decision.kind
            nxt = rollout.step + 1
            updated = self.rollouts.update(
                rollout, step=nxt, state=state, reason=decision.reason, at=self.now
            )
            self.record(
                "rollout_advanced",
                rollout.candidate,
                decision.reason,
                {**details, "to_step": nxt + 1, "to": steps[nxt]},
            )
            self._traffic(updated.candidate, steps[nxt], f"rollout #{rollout.id} step {nxt + 1}")
            return
        if decision.action == "promote":
            try:
                self.governor.promote(rollout.candidate, actor=self.actor, reason=decision.reason)
            except GovernanceError as exc:
                self._finish(rollout, "rolled_back", f"cannot promote: {exc}", details)
                return
            self._end(rollout, "promoted", decision.reason, details, state)
            return
        status = "rolled_back" if decision.action == "rollback" else "expired"
        self._finish(rollout, status, decision.reason, details, state)

    def _finish(
        self,
        rollout: Rollout,
        status: str,
        reason: str,
        details: dict[str, Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        """End a rollout without promotion: the champion alone again, the candidate out."""
        self._traffic(None, None, f"rollout #{rollout.id} {status}: {reason}")
        challenger = self.pilot.registry.version_by_alias(self.model, CHALLENGER)
        if challenger is not None and challenger.version == rollout.candidate:
            self.pilot.registry.client.delete_registered_model_alias(self.model, CHALLENGER)
        self._end(rollout, status, reason, details, state)

    def _end(
        self,
        rollout: Rollout,
        status: str,
        reason: str,
        details: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> None:
        if status == "promoted":
            self._traffic(None, None, f"rollout #{rollout.id} promoted")
        self.pilot.registry.client.set_model_version_tag(
            self.model, rollout.candidate, layout.ROLLOUT.name, status
        )
        self.rollouts.update(rollout, status=status, state=state, reason=reason, at=self.now)
        action = {
            "promoted": "rollout_promoted",
            "rolled_back": "rollout_rolled_back",
            "expired": "rollout_expired",
            "aborted": "rollout_aborted",
        }[status]
        self.record(action, rollout.candidate, reason, {"rollout_id": rollout.id, **details})
