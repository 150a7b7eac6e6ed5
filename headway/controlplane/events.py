"""What the audit log records, with no database code: its actions, its event, its defaults.

Importing this module loads no SQLAlchemy, so that a command can list the actions in its
help, or name the embedded store, without paying for the database layer.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headway.project import CONTROL_DB_FILENAME

__all__ = [
    "AUDIT_ACTIONS",
    "CONTROL_DB_FILENAME",
    "AuditEvent",
    "default_actor",
    "default_url",
]

AUDIT_ACTIONS: tuple[str, ...] = (
    "registered",
    "blessed",
    "not_blessed",
    "approved",
    "rejected",
    "promoted",
    "rolled_back",
    "archived",
    "forced",
    "traffic",
    # The autopilot (headway.automation): each step of the closed loop, with its evidence.
    "trigger_fired",
    "retrain_started",
    "retrain_finished",
    "retrain_failed",
    "rollout_started",
    "rollout_advanced",
    "rollout_held",
    "rollout_promoted",
    "rollout_rolled_back",
    "rollout_expired",
    "rollout_paused",
    "rollout_resumed",
    "rollout_aborted",
)


@dataclass(frozen=True)
class AuditEvent:
    """One governance decision, as stored.

    Attributes:
        id: increasing number assigned by the store.
        at: when it was decided, timezone-aware UTC.
        action: one of :data:`AUDIT_ACTIONS`.
        model: registered model name.
        version: model version, or ``None`` for a decision on the model as a whole.
        actor: who decided, as claimed by the caller (``--by``; the OS user by default).
        reason: free text, may be empty.
        details: JSON object, e.g. gate results or the previous champion version.
        os_actor: the OS user of the process that recorded it, whatever ``actor`` claims
            (``None`` for events recorded before headway stored it).
    """

    id: int
    at: datetime
    action: str
    model: str
    version: str | None
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    os_actor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the event, with ``at`` as an ISO 8601 string."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "actor": self.actor,
            "os_actor": self.os_actor,
            "reason": self.reason,
            "details": self.details,
        }


def default_url(state_dir: str | Path) -> str:
    """SQLAlchemy URL of the embedded control-plane store, ``STATE_DIR/control.db``.

    Example:
        >>> default_url(Path("/p/.headway"))
        'sqlite:////p/.headway/control.db'
    """
    return f"sqlite:///{Path(state_dir) / CONTROL_DB_FILENAME}"


def default_actor() -> str:
    """The OS user name running this process, or ``"unknown"`` when it cannot be told."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name variable and no passwd entry
        return "unknown"
    return name or "unknown"
