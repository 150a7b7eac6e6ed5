"""A thin layer over MLflow tracking and the Model Registry.

MLflow's own stores are used as they are (SQLite locally, a tracking server or a database
when shared); this module only fixes the conventions headway relies on: aliases
(``champion``, ``challenger``), ``headway.*`` version tags, and safe model loading.
"""

from __future__ import annotations

import logging
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from typing import Any

import mlflow.artifacts
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from headway._schema_lock import SCHEMA_LOCK
from headway.artifacts import ModelVersionRef
from headway.exceptions import ModelNotFoundError, RegistryError
from headway.redact import redact_text, redact_uri
from headway.registry import layout
from headway.registry.layout import CHALLENGER, CHAMPION, MODEL_ARTIFACT
from headway.registry.tracking import TrackedRun

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "SKOPS_TRUSTED_TYPES",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "requires_headway",
]

logger = logging.getLogger(__name__)

# Types inside a headway model that skops does not trust by default: the LightGBM and
# XGBoost estimators and boosters, scikit-learn's compiled tree structure (forests) and
# calibration internals, and two containers. Listing them keeps MLflow's safe (skops)
# loading instead of pickle.
SKOPS_TRUSTED_TYPES = [
    "collections.OrderedDict",
    "numpy.dtype",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    # Models that need headway to load: XGBoost classifiers of labels other than 0..k-1,
    # and forecasting models (their first step builds lag and calendar features).
    "headway.training.estimators.XGBLabelClassifier",
    "headway.features.forecast.ForecastFeatures",
    # The same class as named by forecasting models registered with headway 0.1.
    "headway.training.forecast.ForecastFeatures",
]
# Module -> the distributions that may provide it (the first installed one is pinned).
_DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu"), "headway": ("headway",)}


def _pinned(candidates: tuple[str, ...]) -> str:
    for distribution in candidates:
        try:
            return f"{distribution}=={_pkg_version(distribution)}"
        except PackageNotFoundError:
            continue
    return candidates[0]


def requires_headway(estimator: Any) -> bool:
    """Whether loading ``estimator`` needs headway installed: forecasting models (their
    first step builds the lag features) and XGBoost classifiers of labels other than
    0..k-1 contain headway classes; every other model loads with plain MLflow."""
    return any(name.split(".")[0] == "headway" for name in _class_names(estimator))


def _requirements(estimator: Any) -> list[str]:
    """Explicit pip requirements of a model: the core stack, plus XGBoost or headway when
    the model contains their classes. (MLflow's own inference re-imports the model in a
    subprocess, seconds per registration, and would pin headway whether needed or not.)"""
    names = ["mlflow", "scikit-learn", "lightgbm", "skops", "pandas", "numpy", "scipy"]
    used = {name.split(".")[0] for name in _class_names(estimator)}
    extra = [_pinned(d) for module, d in _DISTRIBUTIONS.items() if module in used]
    return [_pinned((name,)) for name in names] + extra


def _class_names(obj: Any, seen: set[int] | None = None) -> set[str]:
    """Qualified class names of ``obj`` and the estimators inside it (steps, wrappers)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or obj is None or isinstance(obj, str | int | float | bool):
        return set()
    seen.add(id(obj))
    names = {f"{type(obj).__module__}.{type(obj).__qualname__}"}
    children: list[Any] = []
    if isinstance(obj, list | tuple):
        children = list(obj)
    elif hasattr(obj, "get_params"):
        children = [v for k, v in vars(obj).items() if not k.startswith("__")]
    for child in children:
        if isinstance(child, list | tuple) or hasattr(child, "get_params"):
            names |= _class_names(child, seen)
    return names


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: str
    run_id: str
    source: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created_at_ms: int

    @property
    def metrics(self) -> dict[str, float]:
        prefix = layout.METRIC.name
        return {k[len(prefix) :]: float(v) for k, v in self.tags.items() if k.startswith(prefix)}

    @property
    def blessed(self) -> bool:
        return self.tags.get(layout.BLESSED.name) == "true"

    @property
    def dataset_hash(self) -> str | None:
        return self.tags.get(layout.DATASET_HASH.name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "blessed": self.blessed,
            "metrics": self.metrics,
            "dataset_hash": self.dataset_hash,
            "created_at_ms": self.created_at_ms,
        }


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    aliases: dict[str, str]
    versions: tuple[ModelVersionInfo, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": self.aliases,
            "versions": [v.as_dict() for v in self.versions],
        }


# (tracking URI, registry URI) pairs whose MLflow stores this process has opened.
_OPENED_STORES: set[tuple[str, str]] = set()


def _is_database_uri(uri: str) -> bool:
    """Whether MLflow opens ``uri`` as a SQL store (whose tables it migrates on opening)."""
    scheme = urllib.parse.urlparse(uri).scheme.split("+", 1)[0]
    return scheme in {"sqlite", "postgresql", "mysql", "mssql"}


class ModelRegistry:
    """Registry operations against one MLflow tracking/registry store.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///...``, ``http://...``).
        registry_uri: registry URI when different from the tracking URI.
    """

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.client = self._open_client()

    def _open_client(self) -> MlflowClient:
        """A client of this registry's stores; the first in this process under the schema lock.

        MLflow creates or migrates a SQL store's tables with Alembic when the store is first
        opened (the tracking store when the client is made, the registry store on its first
        call); two threads doing that at once (two projects trained in one process) break
        each other's migration (see :mod:`headway._schema_lock`). A failure to open is left
        to the first real call, which reports it with its fix.
        """
        key = (self.tracking_uri, self.registry_uri)
        if key in _OPENED_STORES or not any(map(_is_database_uri, key)):
            return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        with SCHEMA_LOCK:
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
            try:
                client.search_experiments(max_results=1)
                client.search_registered_models(max_results=1)
            except Exception:  # reported by the first real call
                logger.debug("could not open the MLflow stores of %s", redact_uri(key[0]))
                return client
            _OPENED_STORES.add(key)
            return client

    def ensure_experiment(self, name: str, artifact_location: str | None = None) -> str:
        """The id of experiment ``name``, created (with ``artifact_location``) if missing."""
        try:
            existing = self.client.get_experiment_by_name(name)
            if existing is not None:
                return str(existing.experiment_id)
            return str(self.client.create_experiment(name, artifact_location=artifact_location))
        except MlflowException as exc:
            raise RegistryError(
                f"cannot open experiment {name!r} at {redact_uri(self.tracking_uri)}: "
                f"{redact_text(exc.message)}. "
                "Check mlflow.tracking_uri / HEADWAY_TRACKING_URI."
            ) from exc

    def start_run(
        self,
        experiment_id: str,
        *,
        name: str,
        tags: dict[str, str] | None = None,
        parent: TrackedRun | None = None,
    ) -> TrackedRun:
        """A new run in this store (see :class:`TrackedRun`)."""
        return TrackedRun.start(
            self.client, experiment_id=experiment_id, name=name, tags=tags, parent=parent
        )

    def log_and_register(
        self,
        run: TrackedRun,
        estimator: Any,
        *,
        name: str,
        signature: Any,
        input_example: Any,
        tags: dict[str, str],
    ) -> ModelVersionRef:
        """Log ``estimator`` as an MLflow model of ``run`` and register it as a new version
        of ``name`` with ``tags``.

        What ``mlflow.sklearn.log_model`` does, through this registry's client: a logged
        model (skops format, safe loading) linked to the run as its output, then a version.

        Raises:
            RegistryError: the store refused.
        """
        client = self.client
        try:
            logged = client.create_logged_model(
                run.experiment_id, name=MODEL_ARTIFACT, source_run_id=run.run_id
            )
            client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step=0)])
            meta = Model(
                artifact_path=logged.artifact_location,
                model_uuid=logged.model_id,
                run_id=run.run_id,
                model_id=logged.model_id,
            )
            with tempfile.TemporaryDirectory() as tmp:
                local = f"{tmp}/{MODEL_ARTIFACT}"
                mlflow.sklearn.save_model(
                    estimator,
                    local,
                    mlflow_model=meta,
                    signature=signature,
                    input_example=input_example,
                    pip_requirements=_requirements(estimator),
                    skops_trusted_types=SKOPS_TRUSTED_TYPES,
                )
                client.log_model_artifacts(logged.model_id, local)
            client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
            try:
                client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            # The source is the logged model's artifact location, not ``models:/<model id>``:
            # MLflow's SQL registry resolves the latter through the process-wide tracking URI.
            mv = client.create_model_version(
                name,
                source=logged.artifact_location,
                run_id=run.run_id,
                tags=tags,
                model_id=logged.model_id,
            )
        except MlflowException as exc:
            raise RegistryError(
                f"cannot register model {name!r}: {redact_text(exc.message)}"
            ) from exc
        return ModelVersionRef(name=name, version=str(mv.version), run_id=str(mv.run_id))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def version_by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        """The version behind ``name@alias``, or ``None`` if the model or alias is absent."""
        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise RegistryError(f"cannot read {name}@{alias}: {redact_text(exc.message)}") from exc
        return self._info(mv)

    def get_version(self, name: str, version: str) -> ModelVersionInfo:
        try:
            return self._info(self.client.get_model_version(name, version))
        except MlflowException as exc:
            raise ModelNotFoundError(
                f"no version {version} of model {name!r} in {redact_uri(self.registry_uri)}"
            ) from exc

    def models(self) -> list[RegisteredModelInfo]:
        """Every registered model with its versions (newest first) and aliases."""
        out = []
        for rm in self.client.search_registered_models(max_results=1000):
            versions = self.client.search_model_versions(f"name='{rm.name}'", max_results=1000)
            # search_model_versions does not fill aliases: read each version (see DESIGN.md).
            infos = [self.get_version(rm.name, str(v.version)) for v in versions]
            infos.sort(key=lambda v: int(v.version), reverse=True)
            aliases = {alias: v.version for v in infos for alias in v.aliases}
            out.append(RegisteredModelInfo(rm.name, aliases=aliases, versions=tuple(infos)))
        return sorted(out, key=lambda m: m.name)

    def load_estimator(self, uri: str) -> Any:
        """Load the scikit-learn estimator behind a ``models:/`` URI (safe skops loading).

        The model's files are downloaded through this registry's URIs into a temporary
        folder and loaded from there; no process-wide MLflow setting is read or changed.

        Raises:
            ModelNotFoundError: no model at ``uri``.
        """
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=self._storage_location(uri),
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                    registry_uri=self.registry_uri,
                )
                return mlflow.sklearn.load_model(local)
            except MlflowException as exc:
                raise ModelNotFoundError(
                    f"cannot load {uri} from {redact_uri(self.registry_uri)}: "
                    f"{redact_text(exc.message)}. "
                    "Run 'headway run' first, or check the model name and alias."
                ) from exc

    def _storage_location(self, uri: str) -> str:
        """Where the files of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` are, read
        through this registry's client (MLflow resolves ``models:/`` URIs through the
        process-wide registry URI); any other URI is returned as is."""
        if not uri.startswith("models:/"):
            return uri
        ref = uri.removeprefix("models:/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = str(self.client.get_model_version_by_alias(name, alias).version)
        else:
            name, _, version = ref.partition("/")
        return str(self.client.get_model_version_download_uri(name, version))

    def download_run_artifact(self, run_id: str, path: str, directory: str) -> str | None:
        """Download one artifact of a run into ``directory`` and return its local path;
        ``None`` when the run (or its store) does not have it, e.g. a version registered
        before that artifact existed."""
        if not run_id:
            return None
        try:
            return str(self.client.download_artifacts(run_id, path, directory))
        except (MlflowException, OSError):
            return None

    def _info(self, mv: Any) -> ModelVersionInfo:
        return ModelVersionInfo(
            name=mv.name,
            version=str(mv.version),
            run_id=str(mv.run_id or ""),
            source=str(mv.source),
            aliases=tuple(mv.aliases or ()),
            tags=dict(mv.tags or {}),
            created_at_ms=int(mv.creation_timestamp or 0),
        )
