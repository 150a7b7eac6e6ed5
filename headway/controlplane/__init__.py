"""Control plane: the store of headway's own state.

It holds the audit log of governance decisions (:class:`AuditLog`) and the deployment
record of each served model, its candidate version and how traffic is split with it
(:class:`DeploymentStore`), the windows ``headway monitor`` tested
(:class:`MonitoringStore`), the autopilot's rollouts (:class:`RolloutStore`) and leases
(:class:`LeaseStore`). The store is
embedded by default (SQLite at ``DIR/.headway/control.db``, see :func:`default_url`) and
shared by URL for a team (PostgreSQL: ``control_plane.url`` or ``HEADWAY_CONTROL_DB_URL``).

Its schema evolves by Alembic migrations shipped inside this package. Opening a database
upgrades it in place to this headway's schema, in one transaction: an empty database is
created, a database written by an older headway (0.1.0 included) is migrated keeping every
row, and a database written by a newer headway is refused unchanged with a message asking
to upgrade headway. :func:`upgrade` does the same without opening a store, and
:func:`current_revision` tells where a database stands.

Modules: ``events`` (the audit vocabulary, no database code), ``engine`` (URLs and
engines), ``schema`` (the tables, the single source of truth), ``migrate`` (the upgrade on
open), ``audit`` (the audit log), ``deployments`` (the deployment records), ``monitoring``
(the tested windows), ``rollouts`` and ``leases`` (the autopilot's state). Names that
need SQLAlchemy load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway._lazy import lazy_exports
from headway.controlplane.events import (
    AUDIT_ACTIONS,
    CONTROL_DB_FILENAME,
    AuditEvent,
    default_actor,
    default_url,
)

if TYPE_CHECKING:
    from headway.controlplane.audit import AuditLog
    from headway.controlplane.deployments import MODES, Deployment, DeploymentStore
    from headway.controlplane.features import FeatureRegistry
    from headway.controlplane.leases import Lease, LeaseStore
    from headway.controlplane.migrate import current_revision, head_revision, upgrade
    from headway.controlplane.monitoring import MonitoringStore, StoredWindow
    from headway.controlplane.rollouts import (
        Rollout,
        RolloutConflictError,
        RolloutStore,
        StaleRolloutError,
    )
    from headway.controlplane.schema import SCHEMA_VERSION

__all__ = [
    "AUDIT_ACTIONS",
    "CONTROL_DB_FILENAME",
    "MODES",
    "SCHEMA_VERSION",
    "AuditEvent",
    "AuditLog",
    "Deployment",
    "DeploymentStore",
    "FeatureRegistry",
    "Lease",
    "LeaseStore",
    "MonitoringStore",
    "Rollout",
    "RolloutConflictError",
    "RolloutStore",
    "StaleRolloutError",
    "StoredWindow",
    "current_revision",
    "default_actor",
    "default_url",
    "head_revision",
    "upgrade",
]

# SQLAlchemy and Alembic load on first use of these, not with the package.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AuditLog": ".audit",
        "Deployment": ".deployments",
        "DeploymentStore": ".deployments",
        "MODES": ".deployments",
        "FeatureRegistry": ".features",
        "Lease": ".leases",
        "LeaseStore": ".leases",
        "MonitoringStore": ".monitoring",
        "Rollout": ".rollouts",
        "RolloutConflictError": ".rollouts",
        "RolloutStore": ".rollouts",
        "StaleRolloutError": ".rollouts",
        "StoredWindow": ".monitoring",
        "SCHEMA_VERSION": ".schema",
        "current_revision": ".migrate",
        "head_revision": ".migrate",
        "upgrade": ".migrate",
    },
)
