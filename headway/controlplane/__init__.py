"""Control plane: headway's own state (the audit log of decisions), in SQLite or PostgreSQL."""

from __future__ import annotations

from headway.controlplane.audit import (
    AUDIT_ACTIONS,
    CONTROL_DB_FILENAME,
    SCHEMA_VERSION,
    AuditEvent,
    AuditLog,
    default_actor,
    default_url,
)

__all__ = [
    "AUDIT_ACTIONS",
    "CONTROL_DB_FILENAME",
    "SCHEMA_VERSION",
    "AuditEvent",
    "AuditLog",
    "default_actor",
    "default_url",
]
