"""One lock for every schema migration run in this process.

Alembic keeps its migration context (``alembic.context``, ``alembic.op``) in module-level
proxies that are set while a migration runs. headway's control plane, MLflow's SQL stores
and Optuna's RDB storage all migrate their tables with Alembic when first opened, so two
threads opening any of them at once (two projects trained in one process, a server and
its controller) would swap each other's context: "no such table" or ``KeyError: 'config'``
half-way through a migration. Every place in headway that may open such a store for the
first time does it under :data:`SCHEMA_LOCK`.

The lock is re-entrant: an MLflow store opened while the control plane migrates (or the
other way round) in the same thread does not deadlock. It serialises threads of one
process only; between processes the databases' own locks apply.
"""

from __future__ import annotations

import threading

__all__ = ["SCHEMA_LOCK"]

SCHEMA_LOCK = threading.RLock()
