"""A thin layer over MLflow tracking and the Model Registry.

MLflow's own stores are used as they are (SQLite locally, a tracking server or a database
when shared); this module only fixes the conventions headway relies on: aliases
(``champion``, ``challenger``), ``headway.*`` version tags, and safe model loading.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from typing import Any

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.tracking._model_registry import utils as _registry_utils
from mlflow.tracking._tracking_service import utils as _tracking_utils

from headway.artifacts import ModelVersionRef
from headway.exceptions import ModelNotFoundError, RegistryError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "SKOPS_TRUSTED_TYPES",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "mlflow_uris",
    "version_tags",
]

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_PREFIX = "headway."

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


@contextlib.contextmanager
def mlflow_uris(tracking_uri: str, registry_uri: str | None = None) -> Iterator[None]:
    """Point MLflow's fluent API at the given stores for the duration of the block.

    MLflow keeps the URIs in module globals and mirrors them into ``MLFLOW_*_URI``
    environment variables; both are restored afterwards, so that code running after the
    block (a user's notebook, another project) sees what it saw before.
    """
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    old_tracking = getattr(_tracking_utils, "_tracking_uri", None)
    old_registry = getattr(_registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old_tracking)  # type: ignore[arg-type]  # None: MLflow default
        mlflow.set_registry_uri(old_registry)  # type: ignore[arg-type]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
        prefix = f"{TAG_PREFIX}metric."
        return {k[len(prefix) :]: float(v) for k, v in self.tags.items() if k.startswith(prefix)}

    @property
    def blessed(self) -> bool:
        return self.tags.get(f"{TAG_PREFIX}blessed") == "true"

    @property
    def dataset_hash(self) -> str | None:
        return self.tags.get(f"{TAG_PREFIX}dataset_hash")

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


class ModelRegistry:
    """Registry operations against one MLflow tracking/registry store.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///...``, ``http://...``).
        registry_uri: registry URI when different from the tracking URI.
    """

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=self.registry_uri)

    def ensure_experiment(self, name: str, artifact_location: str | None = None) -> str:
        """The id of experiment ``name``, created (with ``artifact_location``) if missing."""
        try:
            existing = self.client.get_experiment_by_name(name)
            if existing is not None:
                return str(existing.experiment_id)
            return str(self.client.create_experiment(name, artifact_location=artifact_location))
        except MlflowException as exc:
            raise RegistryError(
                f"cannot open experiment {name!r} at {self.tracking_uri}: {exc.message}. "
                "Check mlflow.tracking_uri / HEADWAY_TRACKING_URI."
            ) from exc

    def log_and_register(
        self,
        estimator: Any,
        *,
        name: str,
        signature: Any,
        input_example: Any,
        tags: dict[str, str],
    ) -> ModelVersionRef:
        """Log ``estimator`` as an MLflow model in the active run and register a new version.

        Must be called inside ``mlflow.start_run()`` with :func:`mlflow_uris` in effect.
        """
        try:
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=signature,
                input_example=input_example,
                pip_requirements=_requirements(estimator),
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
            )
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            run = mlflow.active_run()
            mv = self.client.create_model_version(
                name,
                source=info.model_uri,
                run_id=run.info.run_id if run else None,
                tags=tags,
                model_id=info.model_id,
            )
        except MlflowException as exc:
            raise RegistryError(f"cannot register model {name!r}: {exc.message}") from exc
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
            raise RegistryError(f"cannot read {name}@{alias}: {exc.message}") from exc
        return self._info(mv)

    def get_version(self, name: str, version: str) -> ModelVersionInfo:
        try:
            return self._info(self.client.get_model_version(name, version))
        except MlflowException as exc:
            raise ModelNotFoundError(
                f"no version {version} of model {name!r} in {self.registry_uri}"
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

        Raises:
            ModelNotFoundError: no model at ``uri``.
        """
        with mlflow_uris(self.tracking_uri, self.registry_uri):
            try:
                return mlflow.sklearn.load_model(uri)
            except MlflowException as exc:
                raise ModelNotFoundError(
                    f"cannot load {uri} from {self.registry_uri}: {exc.message}. "
                    "Run 'headway run' first, or check the model name and alias."
                ) from exc

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


def version_tags(values: dict[str, Any]) -> dict[str, str]:
    """``headway.*`` tags from plain values (dicts and lists as JSON)."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, dict | list | tuple) else str(value)
        out[f"{TAG_PREFIX}{key}"] = text.lower() if isinstance(value, bool) else text
    return out
