"""Governance: who moves the aliases, under which rules, and the record of it.

State lives where MLflow keeps it (aliases and version tags); every decision also lands in
the project's audit log. A refused action raises :class:`GovernanceError` before anything
is changed.

- ``auto`` promotion: a blessed candidate becomes ``champion``, unless its blessing asks for
  a review (the champion could not be compared with it): then as under ``manual``.
- ``manual`` promotion: a blessed candidate becomes ``challenger`` with approval
  ``pending``; :meth:`Governor.approve` makes it champion, :meth:`Governor.reject` drops it.
- :meth:`Governor.promote` moves ``champion`` to any version. A version that is not blessed,
  or that waits for an approval (``pending``, or under ``manual`` not yet approved), moves
  only with ``force`` and a reason (recorded as ``forced``).
- :meth:`Governor.rollback` moves ``champion`` back to the version it replaced.
- :meth:`Governor.archive` retires a version that is not the champion.
- :meth:`Governor.set_traffic` names a candidate version that shares the champion's traffic
  (the deployment record): ``shadow`` for any registered version, live traffic (``canary``,
  ``ab``) only for a blessed one, and under ``manual`` an approved one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headway.artifacts import Blessing, ModelVersionRef
from headway.controlplane import AuditLog, default_actor
from headway.exceptions import GovernanceError
from headway.registry import layout
from headway.registry.layout import CHALLENGER, CHAMPION
from headway.registry.mlflow_registry import (
    ModelRegistry,
    ModelVersionInfo,
)

if TYPE_CHECKING:
    from headway.controlplane import Deployment, DeploymentStore

__all__ = ["APPROVAL_STATES", "Governor"]

APPROVAL_STATES = ("pending", "approved", "rejected")
_APPROVAL = layout.APPROVAL.name
_PREVIOUS = layout.PREVIOUS_CHAMPION.name
_ARCHIVED = layout.ARCHIVED.name


def approval_of(info: ModelVersionInfo) -> str | None:
    """``pending``, ``approved``, ``rejected``, or ``None`` (never asked)."""
    return info.tags.get(_APPROVAL)


class Governor:
    """Governance actions on one registered model.

    Args:
        registry: the MLflow registry.
        audit: the project's audit log.
        name: the registered model.
        promotion: the project's ``governance.promotion`` policy, ``auto`` or ``manual``.
    """

    def __init__(
        self, registry: ModelRegistry, audit: AuditLog, name: str, *, promotion: str = "auto"
    ) -> None:
        if promotion not in ("auto", "manual"):
            raise ValueError(f"promotion must be 'auto' or 'manual', got {promotion!r}")
        self.registry = registry
        self.audit = audit
        self.name = name
        self.promotion = promotion

    # -- after a run ------------------------------------------------------------------

    def after_gate(
        self,
        ref: ModelVersionRef,
        blessing: Blessing,
        *,
        details: dict[str, Any],
        actor: str | None = None,
        rollout: bool = False,
    ) -> ModelVersionRef:
        """Record a new version and its gate decision, and apply the promotion policy (a
        blessing that asks for a review waits for approval under either policy).

        With ``rollout`` (the project's autopilot rolls versions out) a blessed version
        becomes ``challenger`` instead of ``champion`` when there is a champion to compare
        it with: the autopilot starts its rollout (under ``manual`` once it is approved).
        """
        actor = actor or default_actor()
        value = blessing.candidate_value
        self.audit.record(
            "registered", model=self.name, version=ref.version, actor=actor, details=details
        )
        self.audit.record(
            "blessed" if blessing.blessed else "not_blessed",
            model=self.name,
            version=ref.version,
            actor=actor,
            reason="; ".join(blessing.reasons),
            details={
                **details,
                "metric": blessing.metric,
                "value": value if value == value and abs(value) != float("inf") else None,
                "failed_checks": [c["name"] for c in blessing.failed_checks],
                **({"review": blessing.review} if blessing.review else {}),
            },
        )
        if not blessing.blessed:
            return ref
        if self.promotion == "manual" or blessing.review:
            self._tag(ref.version, {_APPROVAL: "pending"})
            self.registry.set_alias(self.name, CHALLENGER, ref.version)
            return ModelVersionRef(ref.name, ref.version, ref.run_id, aliases=(CHALLENGER,))
        if rollout and self.registry.version_by_alias(self.name, CHAMPION) is not None:
            self.registry.set_alias(self.name, CHALLENGER, ref.version)
            return ModelVersionRef(ref.name, ref.version, ref.run_id, aliases=(CHALLENGER,))
        self._promote(ref.version, actor=actor, reason=f"blessed: @{CHAMPION} moves automatically")
        return ModelVersionRef(ref.name, ref.version, ref.run_id, aliases=(CHAMPION,))

    # -- decisions by people ----------------------------------------------------------

    def approvable(self, version: str) -> ModelVersionInfo:
        """The version, if it may be approved now.

        Raises:
            ModelNotFoundError: no such version.
            GovernanceError: it is rejected, archived, or not blessed (promote it with
                ``force`` instead), or already approved.
        """
        info = self.registry.get_version(self.name, version)
        state = approval_of(info)
        if state == "rejected":
            why = info.tags.get(layout.APPROVAL_REASON.name)
            raise GovernanceError(
                f"{self.name}/{version} was rejected ({why}); "
                "a rejected version cannot be approved. Train a new candidate."
            )
        if state == "approved":
            raise GovernanceError(f"{self.name}/{version} is already approved")
        self._refuse_archived(info)
        if not info.blessed:
            raise GovernanceError(
                f"{self.name}/{version} is not blessed (see 'headway card "
                f"{self.name}/{version}'); to promote it anyway: headway promote "
                f"{self.name}/{version} --force --reason TEXT"
            )
        return info

    def approve(
        self, version: str, *, actor: str, reason: str, promote: bool = True
    ) -> ModelVersionInfo:
        """Approve a version and (with ``promote``) make it champion.

        Without ``promote`` the approval is recorded only: the project's autopilot rolls
        the version out and promotes it on online evidence.

        The caller re-gates a version first when the champion changed since it was gated
        (:func:`headway.pipeline.approve_version` does).

        Raises:
            ModelNotFoundError: no such version.
            GovernanceError: see :meth:`approvable`.
        """
        info = self.approvable(version)
        self._tag(version, self._approval_tags("approved", actor, reason))
        self.audit.record("approved", model=self.name, version=version, actor=actor, reason=reason)
        if promote and CHAMPION not in info.aliases:  # promoted by hand before: on record only
            self._promote(version, actor=actor, reason=f"approved: {reason}")
        return self.registry.get_version(self.name, version)

    def reject(self, version: str, *, actor: str, reason: str) -> ModelVersionInfo:
        """Reject a version: it loses ``challenger`` and can no longer be approved.

        Raises:
            ModelNotFoundError: no such version.
            GovernanceError: it is already rejected, or it is the champion (roll back or
                promote another version first).
        """
        info = self.registry.get_version(self.name, version)
        if approval_of(info) == "rejected":
            raise GovernanceError(f"{self.name}/{version} is already rejected")
        if CHAMPION in info.aliases:
            raise GovernanceError(
                f"{self.name}/{version} is the champion; roll back ('headway rollback "
                f"{self.name}') or promote another version before rejecting it"
            )
        self._tag(version, self._approval_tags("rejected", actor, reason))
        if CHALLENGER in info.aliases:
            self.registry.client.delete_registered_model_alias(self.name, CHALLENGER)
        self.audit.record("rejected", model=self.name, version=version, actor=actor, reason=reason)
        return self.registry.get_version(self.name, version)

    def promote(
        self, version: str, *, actor: str, reason: str, force: bool = False
    ) -> ModelVersionInfo:
        """Make ``version`` the champion.

        Raises:
            ModelNotFoundError: no such version.
            GovernanceError: it is not blessed, or it waits for an approval, and ``force``
                is not set (or no reason was given for forcing); it is rejected or
                archived, or already champion.
        """
        info = self.registry.get_version(self.name, version)
        if CHAMPION in info.aliases:
            raise GovernanceError(f"{self.name}/{version} is already the champion")
        self._refuse_archived(info)
        state = approval_of(info)
        if state == "rejected":
            raise GovernanceError(f"{self.name}/{version} was rejected; it cannot be promoted")
        overruled = None
        if not info.blessed:
            overruled = (
                f"{self.name}/{version} is not blessed; promoting it needs --force and "
                "--reason TEXT (the override is recorded)"
            )
        elif state != "approved" and (state == "pending" or self.promotion == "manual"):
            overruled = (
                f"{self.name}/{version} waits for approval (promotion: {self.promotion}, "
                f"approval: {state or 'not asked'}); approve it with 'headway approve "
                f"{self.name}/{version} --by NAME --reason TEXT', or promote it without "
                "approval with --force --reason TEXT (the override is recorded)"
            )
        if overruled is not None:
            if not force:
                raise GovernanceError(overruled)
            if not reason.strip():
                raise GovernanceError(
                    "--force needs --reason TEXT: say why the gates or the approval are overruled"
                )
            self.audit.record(
                "forced",
                model=self.name,
                version=version,
                actor=actor,
                reason=reason,
                details={"blessed": info.blessed, "approval": state},
            )
        self._promote(version, actor=actor, reason=reason or "promoted by hand")
        return self.registry.get_version(self.name, version)

    def rollback(self, *, actor: str, reason: str) -> tuple[str, str]:
        """Move ``champion`` back to the version the current one replaced.

        Returns:
            (the version rolled back from, the version now champion).

        Raises:
            GovernanceError: no champion, or no previous champion to go back to (or it was
                archived).
        """
        current = self.registry.version_by_alias(self.name, CHAMPION)
        if current is None:
            raise GovernanceError(f"{self.name} has no champion to roll back")
        previous = current.tags.get(_PREVIOUS)
        if not previous:
            raise GovernanceError(
                f"{self.name}@{CHAMPION} (v{current.version}) has no previous champion to "
                "roll back to"
            )
        target = self.registry.get_version(self.name, previous)
        self._refuse_archived(target)
        self.registry.set_alias(self.name, CHAMPION, previous)
        self._tag(current.version, {layout.ROLLED_BACK.name: "true"})
        self.audit.record(
            "rolled_back",
            model=self.name,
            version=previous,
            actor=actor,
            reason=reason,
            details={"from": current.version, "to": previous},
        )
        return current.version, previous

    def archive(self, version: str, *, actor: str, reason: str) -> ModelVersionInfo:
        """Retire a version: it loses its aliases and cannot be promoted again.

        Raises:
            GovernanceError: it is the champion, or already archived.
        """
        info = self.registry.get_version(self.name, version)
        if CHAMPION in info.aliases:
            raise GovernanceError(
                f"{self.name}/{version} is the champion; roll back or promote another "
                "version before archiving it"
            )
        self._refuse_archived(info)
        for alias in info.aliases:
            self.registry.client.delete_registered_model_alias(self.name, alias)
        self._tag(version, {_ARCHIVED: "true"})
        self.audit.record("archived", model=self.name, version=version, actor=actor, reason=reason)
        return self.registry.get_version(self.name, version)

    def set_traffic(
        self,
        store: DeploymentStore,
        *,
        candidate: str | None,
        mode: str,
        weight: float,
        entity_column: str | None = None,
        actor: str,
        reason: str,
    ) -> Deployment:
        """Set how this model's traffic is split with a candidate version, and record it.

        The champion stays the ``champion`` alias; the candidate is named in the deployment
        record (see :mod:`headway.controlplane.deployments` for the modes and the shape of
        a record). The rules:

        - the candidate is a registered version of this model, and not the champion;
        - ``shadow`` (the candidate's answers are only logged) takes any registered
          version;
        - live traffic (``canary``, ``ab``: the candidate answers some requests) goes only
          to a blessed version that is neither rejected nor archived, and not waiting for an
          approval: under ``promotion: manual`` it must be approved;
        - ``single`` clears the candidate.

        Then the record is written (its revision goes up by one) and a ``traffic`` audit
        event is recorded, on the candidate's version (``None`` under ``single``), with the
        mode, weight, entity column, the previous mode, candidate and weight, the new
        revision and the champion's version.

        Args:
            store: the project's deployment records.
            candidate: the version, e.g. ``"4"``; ``None`` under ``single``.
            mode: ``single``, ``shadow``, ``canary`` or ``ab``.
            weight: the candidate's share of traffic (0 under ``single`` and ``shadow``).
            entity_column: the column an ``ab`` split hashes.
            actor: who decides.
            reason: why (kept in the audit log and the record).

        Returns:
            The record as stored.

        Raises:
            ValueError: the settings do not fit the mode (the message names the field).
            ModelNotFoundError: the candidate is not a registered version of this model.
            GovernanceError: the candidate is the champion, or it may not receive live
                traffic (the message says why and what to do).
            HeadwayError: the control-plane store cannot be written.

        When a check fails nothing is written: neither the record nor the audit log.
        """
        from headway.controlplane.deployments import check_deployment

        candidate, mode, weight, entity_column = check_deployment(
            candidate=candidate, mode=mode, weight=weight, entity_column=entity_column
        )
        champion = self.registry.version_by_alias(self.name, CHAMPION)
        if candidate is not None:
            info = self.registry.get_version(self.name, candidate)
            if CHAMPION in info.aliases:
                raise GovernanceError(
                    f"{self.name}/{candidate} is the champion: it already answers every "
                    "request. Name another version as candidate, or set --mode single"
                )
            if mode in ("canary", "ab"):
                self._refuse_live_traffic(info, mode)
        previous, current = store.update(
            self.name,
            candidate=candidate,
            mode=mode,
            weight=weight,
            entity_column=entity_column,
            actor=actor,
            reason=reason,
        )
        self.audit.record(
            "traffic",
            model=self.name,
            version=candidate,
            actor=actor,
            reason=reason,
            details={
                "mode": mode,
                "weight": weight,
                "entity_column": entity_column,
                "previous_mode": previous.mode,
                "previous_candidate": previous.candidate,
                "previous_weight": previous.weight,
                "revision": current.revision,
                "champion": champion.version if champion is not None else None,
            },
        )
        return current

    # -- internals --------------------------------------------------------------------

    def _refuse_live_traffic(self, info: ModelVersionInfo, mode: str) -> None:
        """Raise :class:`GovernanceError` unless ``info`` may answer live requests."""
        ref = f"{self.name}/{info.version}"
        shadow = (
            f"to compare it on live requests without answering them, use --mode shadow "
            f"(headway traffic set --mode shadow --candidate {ref})"
        )
        self._refuse_archived(info)
        state = approval_of(info)
        if state == "rejected":
            raise GovernanceError(
                f"{ref} was rejected; it cannot receive {mode} traffic. Train a new candidate"
            )
        if not info.blessed:
            raise GovernanceError(
                f"{ref} is not blessed (see 'headway card {ref}'); {mode} traffic goes only to "
                f"blessed versions, since its answers reach users. Train a candidate the "
                f"gates bless, or {shadow}"
            )
        if state != "approved" and (state == "pending" or self.promotion == "manual"):
            raise GovernanceError(
                f"{ref} is not approved (promotion: {self.promotion}, approval: "
                f"{state or 'not asked'}); {mode} traffic goes only to approved versions. "
                f"Approve it ('headway approve {ref} --by NAME --reason TEXT'), or {shadow}"
            )

    def _promote(self, version: str, *, actor: str, reason: str) -> None:
        current = self.registry.version_by_alias(self.name, CHAMPION)
        previous = current.version if current is not None else None
        if previous is not None and previous != version:
            self._tag(version, {_PREVIOUS: previous})
        self.registry.set_alias(self.name, CHAMPION, version)
        challenger = self.registry.version_by_alias(self.name, CHALLENGER)
        if challenger is not None and challenger.version == version:
            self.registry.client.delete_registered_model_alias(self.name, CHALLENGER)
        self.audit.record(
            "promoted",
            model=self.name,
            version=version,
            actor=actor,
            reason=reason,
            details={"alias": CHAMPION, "previous": previous},
        )

    def _tag(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.registry.client.set_model_version_tag(self.name, version, key, value)

    def _refuse_archived(self, info: ModelVersionInfo) -> None:
        if info.tags.get(_ARCHIVED) == "true":
            raise GovernanceError(f"{self.name}/{info.version} is archived")

    @staticmethod
    def _approval_tags(state: str, actor: str, reason: str) -> dict[str, str]:
        return {
            _APPROVAL: state,
            layout.APPROVAL_BY.name: actor,
            layout.APPROVAL_REASON.name: reason,
            layout.APPROVAL_AT.name: datetime.now(UTC).isoformat(timespec="seconds"),
        }
