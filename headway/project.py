"""The :class:`Project` facade: a project directory, its configuration and where its state lives.

A project is a directory holding ``headway.yaml`` (read by :mod:`headway.config`);
everything headway writes for it on embedded defaults lives in ``DIR/.headway/`` (MLflow
database, artifacts, dataset snapshots, the control-plane database).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headway.config import ProjectConfig, load_config
from headway.exceptions import ProjectNotFoundError
from headway.settings import Settings, load_settings

__all__ = [
    "CONFIG_FILENAME",
    "CONTROL_DB_FILENAME",
    "MLFLOW_DB_FILENAME",
    "STATE_DIRNAME",
    "Project",
]

CONFIG_FILENAME = "headway.yaml"
STATE_DIRNAME = ".headway"
CONTROL_DB_FILENAME = "control.db"
MLFLOW_DB_FILENAME = "mlflow.db"


@dataclass(frozen=True)
class Project:
    """A project directory with its validated configuration and resolved locations.

    ``config`` is the file's configuration; :meth:`load` gives it the
    ``HEADWAY_OPTUNA_STORAGE`` value, if set, as ``training.optuna_storage``. The other
    locations are resolved by the properties below, ``HEADWAY_*`` first.

    Example:
        >>> project = Project.load("headway-quickstart")  # doctest: +SKIP
        >>> project.tracking_uri  # doctest: +SKIP
        'sqlite:///.../headway-quickstart/.headway/mlflow.db'
    """

    root: Path
    config: ProjectConfig
    settings: Settings

    @classmethod
    def load(cls, directory: str | Path, *, settings: Settings | None = None) -> Project:
        """Load the project in ``directory``.

        Raises:
            ProjectNotFoundError: the directory or its ``headway.yaml`` does not exist.
            ConfigError: the project file is invalid.
        """
        root = Path(directory).expanduser().resolve()
        if not root.is_dir():
            raise ProjectNotFoundError(
                f"{directory}: project directory does not exist. "
                "Create it with 'headway init DIR --example churn' or pass --project DIR."
            )
        settings = settings or load_settings()
        config = _with_settings(load_config(root / CONFIG_FILENAME), settings)
        return cls(root=root, config=config, settings=settings)

    @property
    def state_dir(self) -> Path:
        """``DIR/.headway``: embedded stores, artifacts and logs."""
        return self.root / STATE_DIRNAME

    @property
    def data_path(self) -> Path | None:
        """The source file, folder or glob; ``None`` for a SQL source."""
        path = self.config.data.source.path
        return (self.root / path).resolve() if path is not None else None

    @property
    def datasets_dir(self) -> Path:
        """Where dataset versions are snapshotted (``DIR/.headway/datasets``)."""
        return self.state_dir / "datasets"

    @property
    def predictions_dir(self) -> Path:
        """The embedded prediction log (``DIR/.headway/predictions``)."""
        return self.state_dir / "predictions"

    @property
    def predictions_url(self) -> str | None:
        """``HEADWAY_PREDICTIONS_URL``, else ``predictions.url``; ``None``: the embedded
        log in :attr:`predictions_dir`."""
        return self.settings.predictions_url or self.config.predictions.url

    @property
    def monitor_webhook_url(self) -> str | None:
        """``HEADWAY_MONITOR_WEBHOOK_URL``, else ``monitoring.webhook_url``; ``None``: no
        webhook."""
        return self.settings.monitor_webhook_url or self.config.monitoring.webhook_url

    @property
    def schema_path(self) -> Path:
        return self.root / self.config.data.schema_file

    @property
    def uses_embedded_store(self) -> bool:
        return self.settings.tracking_uri is None and self.config.mlflow.tracking_uri is None

    @property
    def tracking_uri(self) -> str:
        """``HEADWAY_TRACKING_URI``, else ``mlflow.tracking_uri``, else the embedded SQLite."""
        uri = self.settings.tracking_uri or self.config.mlflow.tracking_uri
        return uri or f"sqlite:///{self.tracking_db_path}"

    @property
    def tracking_db_path(self) -> Path:
        """The embedded MLflow store, ``DIR/.headway/mlflow.db`` (used when no URI is set)."""
        return self.state_dir / MLFLOW_DB_FILENAME

    @property
    def control_db_path(self) -> Path:
        """The embedded control-plane store, ``DIR/.headway/control.db``."""
        return self.state_dir / CONTROL_DB_FILENAME

    @property
    def uses_embedded_control_plane(self) -> bool:
        return self.settings.control_db_url is None and self.config.control_plane.url is None

    @property
    def control_db_url(self) -> str:
        """``HEADWAY_CONTROL_DB_URL``, else ``control_plane.url``, else the embedded
        ``DIR/.headway/control.db``."""
        url = self.settings.control_db_url or self.config.control_plane.url
        return url or f"sqlite:///{self.control_db_path}"

    @property
    def registry_uri(self) -> str:
        return self.settings.registry_uri or self.config.mlflow.registry_uri or self.tracking_uri

    @property
    def optuna_storage(self) -> str | None:
        """``HEADWAY_OPTUNA_STORAGE``, else ``training.optuna_storage``; ``None``: a
        temporary journal file. :meth:`load` puts this value into ``config.training``, the
        section the training stage reads."""
        return self.settings.optuna_storage or self.config.training.optuna_storage

    @property
    def artifact_location(self) -> str | None:
        """Artifact root for a new experiment: the server's when MLflow is a server, else
        ``DIR/.headway/artifacts`` (a database URI alone would put them in ``./mlruns`` of
        whatever directory the command runs in)."""
        scheme = self.tracking_uri.split(":", 1)[0].lower()
        if scheme in ("http", "https", "databricks"):
            return None
        return (self.state_dir / "artifacts").as_uri()


def _with_settings(config: ProjectConfig, settings: Settings) -> ProjectConfig:
    """``config`` with the ``HEADWAY_*`` values that the stages read from it resolved.

    The training stage takes a :class:`headway.config.TrainingConfig` and reads no
    environment variable, so ``HEADWAY_OPTUNA_STORAGE`` is put into ``training`` here.
    """
    if settings.optuna_storage is None:
        return config
    training = config.training.model_copy(update={"optuna_storage": settings.optuna_storage})
    return config.model_copy(update={"training": training})
