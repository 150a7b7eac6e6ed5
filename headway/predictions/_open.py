"""The one place a prediction log's URL becomes a backend (backends imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from headway.exceptions import ConfigError
from headway.redact import redact_uri

if TYPE_CHECKING:
    from headway.predictions.base import BasePredictionLog

__all__ = ["open_prediction_log"]

_SQL_SCHEMES = ("postgresql", "sqlite")


def open_prediction_log(url: str | None, root: Path, *, fsync: str = "batch") -> BasePredictionLog:
    """The prediction log at ``url``.

    Args:
        url: ``None``: the embedded log in ``root``; ``postgresql+psycopg://USER@HOST/DB``
            (or ``postgresql://``, ``sqlite:///PATH``): a database; ``s3://BUCKET/PREFIX``:
            Parquet objects, spooled under ``root``.
        root: the project's prediction folder (:attr:`headway.Project.predictions_dir`).
        fsync: ``batch`` (every acknowledged batch survives a machine crash) or ``none``
            (it survives a killed process).

    Raises:
        ConfigError: the URL is malformed or of an unknown kind, or its store cannot be
            reached (the message names ``predictions.url`` and ``HEADWAY_PREDICTIONS_URL``
            and masks any password).

    Example:
        >>> log = open_prediction_log(  # doctest: +SKIP
        ...     project.predictions_url,
        ...     project.predictions_dir,
        ...     fsync=project.config.predictions.fsync,
        ... )
    """
    if url is None or not url.strip():
        from headway.predictions.local import EmbeddedPredictionLog

        return EmbeddedPredictionLog(Path(root), fsync=fsync)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    family = scheme.split("+", 1)[0]
    if family in _SQL_SCHEMES:
        from headway.predictions.postgres import SqlPredictionLog

        return SqlPredictionLog(url, fsync=fsync)
    if scheme == "s3":
        from headway.predictions.objectstore import S3PredictionLog

        return S3PredictionLog(url, Path(root), fsync=fsync)
    raise ConfigError(
        f"predictions.url (or HEADWAY_PREDICTIONS_URL) {redact_uri(url)!r} is not a "
        "prediction log location: use null (the embedded log in DIR/.headway/predictions), "
        "'postgresql+psycopg://USER@HOST/DB' or 's3://BUCKET/PREFIX'"
    )
