"""Typed ``HEADWAY_*`` settings: the only place where environment variables are read.

Every URI a project uses can be given here instead of in ``headway.yaml``, so that a
password stays out of the file (and out of version control); whatever reaches a record is
masked anyway (:mod:`headway.redact`).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Process-wide settings, read from ``HEADWAY_*`` environment variables.

    Attributes:
        tracking_uri: MLflow tracking URI that overrides the project's own
            (``HEADWAY_TRACKING_URI``), e.g. ``http://mlflow.internal:5000``.
        registry_uri: MLflow registry URI when it differs from the tracking URI
            (``HEADWAY_REGISTRY_URI``).
        control_db_url: SQLAlchemy URL of the control-plane store (audit log) that overrides
            the project's own (``HEADWAY_CONTROL_DB_URL``), e.g.
            ``postgresql+psycopg://headway:secret@db.internal/headway``.
        optuna_storage: Optuna storage URL the search's workers share that overrides the
            project's ``training.optuna_storage`` (``HEADWAY_OPTUNA_STORAGE``), e.g.
            ``postgresql+psycopg://optuna:secret@db.internal/optuna``.
        predictions_url: where the prediction log lives, overriding the project's
            ``predictions.url`` (``HEADWAY_PREDICTIONS_URL``), e.g.
            ``postgresql+psycopg://headway:secret@db.internal/headway`` or ``s3://bucket/log``.
        api_tokens: bearer tokens of the prediction server with their roles
            (``HEADWAY_API_TOKENS``), ``TOKEN:ROLE`` pairs separated by commas, the role
            ``predict`` or ``admin``; merged with ``serving.token_file``. Unset (and no token
            file): the server asks for no token.
        monitor_webhook_url: where ``headway monitor`` posts its alerts, overriding the
            project's ``monitoring.webhook_url`` (``HEADWAY_MONITOR_WEBHOOK_URL``), e.g. an
            Alertmanager receiver or a chat bridge URL holding a token.
        log_level: log level of the ``headway`` command (``HEADWAY_LOG_LEVEL``); library use
            leaves logging to the caller.
    """

    model_config = SettingsConfigDict(env_prefix="HEADWAY_", extra="ignore")

    tracking_uri: str | None = None
    registry_uri: str | None = None
    control_db_url: str | None = None
    optuna_storage: str | None = None
    predictions_url: str | None = None
    api_tokens: str | None = Field(default=None, repr=False)
    monitor_webhook_url: str | None = Field(default=None, repr=False)
    log_level: str = "WARNING"


def load_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
