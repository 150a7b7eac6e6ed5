"""``headway approve``: approve a pending version, re-gating it first when the champion has
changed since it was gated.

A version waiting for approval was compared with the champion of its day. If another
version has become champion since (a rollback, a forced promotion, another approval), the
old comparison says nothing about today's champion, so the version is re-evaluated on
today's data against today's champion (:func:`~headway.pipeline.regate.gate_version`,
recorded in the audit log) and approved only if that re-gate blesses it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from headway.controlplane import AuditLog
from headway.exceptions import GovernanceError
from headway.pipeline.regate import gate_version
from headway.pipeline.run import rolls_out
from headway.project import Project
from headway.registry import CHAMPION, ModelRegistry, ModelVersionInfo, layout
from headway.registry.governance import Governor

__all__ = ["approve_version", "gated_against"]

_UNKNOWN = "unknown"


def gated_against(registry: ModelRegistry, info: ModelVersionInfo) -> str | None:
    """The champion version ``info`` was gated against (``None``: there was no champion;
    ``"unknown"``: the run holds no blessing record)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_run_artifact(info.run_id, layout.BLESSING.path, tmp)
        if path is None:
            return _UNKNOWN
        try:
            recorded = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError:
            return _UNKNOWN
    champion = recorded.get("champion_version") if isinstance(recorded, dict) else _UNKNOWN
    return None if champion is None else str(champion)


def approve_version(
    project: Project, name: str, version: str, *, actor: str, reason: str
) -> ModelVersionInfo:
    """Approve ``name``/``version`` and make it champion; re-gate it first when today's
    champion is not the one it was gated against. When the project's autopilot rolls
    versions out (:func:`rolls_out`), the approval is recorded only: the autopilot starts
    the version's rollout and promotes it on online evidence.

    Raises:
        ModelNotFoundError: no such version.
        GovernanceError: it may not be approved (rejected, archived, not blessed, already
            approved), or the re-gate against today's champion did not bless it; nothing
            is approved then.
        DataError: the re-gate cannot read today's data.
    """
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    promotion = project.config.governance.promotion
    with AuditLog.for_project(project) as audit:
        governor = Governor(registry, audit, name, promotion=promotion)
        info = governor.approvable(version)
        champion = registry.version_by_alias(name, CHAMPION)
        then = gated_against(registry, info)
        if champion is not None and champion.version not in (version, then):
            _, blessing = gate_version(project, name, version, actor=actor)
            if not blessing.blessed:
                failed = "; ".join(c["detail"] for c in blessing.failed_checks)
                raise GovernanceError(
                    f"{name}/{version} was gated against "
                    f"{'no champion' if then is None else 'champion v' + then}, but today's "
                    f"champion is v{champion.version}: re-gated on today's data, it is not "
                    f"blessed ({failed}). Nothing was approved; see 'headway audit'."
                )
        promote = not (rolls_out(project) and champion is not None)
        return governor.approve(version, actor=actor, reason=reason, promote=promote)
