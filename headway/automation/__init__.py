"""Automation: the control plane around the loop, starting with the audit log of decisions."""

from __future__ import annotations

from headway.automation.audit import (
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
