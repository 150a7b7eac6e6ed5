"""``headway.yaml`` -> typed :class:`ProjectConfig`, and the :class:`Project` facade.

A project is a directory holding ``headway.yaml``; everything headway writes for it on
embedded defaults lives in ``DIR/.headway/`` (MLflow database, artifacts, logs).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from headway.exceptions import ConfigError, ProjectNotFoundError
from headway.settings import Settings, load_settings

__all__ = [
    "CONFIG_FILENAME",
    "NUMERIC_TASKS",
    "ControlPlaneConfig",
    "CostConfig",
    "DataConfig",
    "EvaluationConfig",
    "ForecastConfig",
    "GateConfig",
    "GovernanceConfig",
    "MlflowConfig",
    "Project",
    "ProjectConfig",
    "ServingConfig",
    "SourceConfig",
    "SplitConfig",
    "TrainingBudget",
    "TrainingConfig",
    "load_config",
]

CONFIG_FILENAME = "headway.yaml"
STATE_DIRNAME = ".headway"

Task = Literal["binary", "multiclass", "regression", "forecast"]
# Tasks whose model predicts a number (forecasting is regression on lag features).
NUMERIC_TASKS = ("regression", "forecast")
Family = Literal["lightgbm", "xgboost", "linear", "random_forest", "extra_trees"]

# Primary metric per task, and whether larger is better.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "f1"),
    "multiclass": ("accuracy", "f1_macro", "log_loss", "roc_auc"),
    "regression": ("rmse", "mae", "r2", "mape", "wape"),
    "forecast": ("wape", "mae", "rmse", "mape", "smape", "r2"),
}
DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "rmse",
    "forecast": "wape",
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "average_precision": True,
    "accuracy": True,
    "f1": True,
    "f1_macro": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
    "smape": False,
    "wape": False,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where the training data comes from.

    ``csv`` and ``parquet`` read ``path`` (for Parquet also a folder or a glob such as
    ``data/*.parquet``); ``sql`` runs ``query`` with DuckDB, over files named in the query or
    over the tables of ``database`` (a DuckDB database file).
    """

    type: Literal["csv", "parquet", "sql"] | None = Field(
        default=None, description="Source kind; inferred from the path's extension when omitted."
    )
    path: str | None = Field(
        default=None, description="File, folder or glob, relative to the project directory."
    )
    delimiter: str = Field(default=",", description="Field delimiter of a CSV file.")
    encoding: str = Field(default="utf-8", description="Text encoding of a CSV file.")
    query: str | None = Field(default=None, description="SQL query (type: sql).")
    database: str | None = Field(
        default=None, description="DuckDB database file for type: sql; in-memory when omitted."
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.type is None:
            if self.query is not None:
                object.__setattr__(self, "type", "sql")
                return self
            if self.path is None:
                raise ValueError(
                    "set data.source.path (a CSV or Parquet file) or data.source.query"
                )
            suffix = Path(self.path.rstrip("/")).suffix.lower()
            inferred = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
            if inferred is None:
                raise ValueError(
                    f"cannot infer the format of {self.path!r} from its extension; "
                    "set data.source.type to 'csv', 'parquet' or 'sql'"
                )
            object.__setattr__(self, "type", inferred)
        if self.type == "sql" and not self.query:
            raise ValueError("data.source.type 'sql' needs data.source.query")
        if self.type in ("csv", "parquet") and not self.path:
            raise ValueError(f"data.source.type {self.type!r} needs data.source.path")
        return self

    def describe(self) -> str:
        """A short human-readable name of the source, for messages."""
        if self.type == "sql":
            where = f" on {self.database}" if self.database else ""
            return f"sql query{where}"
        return str(self.path)


class DataConfig(_Strict):
    """The table to learn from and the roles of its columns."""

    source: SourceConfig
    target: str = Field(description="Column to predict.")
    id_column: str | None = Field(default=None, description="Unique row id; not a feature.")
    timestamp_column: str | None = Field(
        default=None, description="Event time; enables a time-based holdout. Not a feature."
    )
    group_column: str | None = Field(
        default=None,
        description="Entity id when rows repeat per entity: an entity's rows never straddle "
        "train, validation and test. Not a feature.",
    )
    series_columns: list[str] = Field(
        default_factory=list,
        description="Forecasting: the columns that name one series (e.g. store_id, "
        "product_id); empty means one series. Features too.",
    )
    exclude_columns: list[str] = Field(
        default_factory=list, description="Columns that must not be used as features."
    )
    schema_file: str = Field(
        default="schema.yaml",
        description="Data schema, relative to the project directory; inferred on first run.",
    )


class SplitConfig(_Strict):
    """How rows are divided into train, validation (tuning) and test (holdout)."""

    valid_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)


class TrainingBudget(_Strict):
    """Limits on the hyper-parameter search; whichever is reached first stops it."""

    trials: int = Field(default=20, ge=1, le=10_000)
    timeout_seconds: float = Field(default=60.0, gt=0)


class CostConfig(_Strict):
    """What each kind of error costs (any currency), for ``training.threshold: cost``."""

    false_positive: float = Field(ge=0, description="Cost of acting on a wrong alarm.")
    false_negative: float = Field(ge=0, description="Cost of missing a positive.")


class ForecastConfig(_Strict):
    """Features of the ``forecast`` task, built from each series' own past."""

    horizon: int = Field(
        default=7, ge=1, le=1000, description="How many periods ahead the model forecasts."
    )
    lags: list[int] | None = Field(
        default=None,
        description="Past periods used as features, each >= horizon; default horizon x 1, 2, 4.",
    )
    windows: list[int] = Field(
        default_factory=lambda: [7, 28],
        description="Rolling-mean windows, ending horizon periods before the row.",
    )
    frequency: Literal["D", "W", "MS"] = Field(
        default="D", description="Period of the series: daily, weekly, monthly."
    )

    @model_validator(mode="after")
    def _lags_after_horizon(self) -> ForecastConfig:
        early = [lag for lag in self.lags or [] if lag < self.horizon]
        if early:
            raise ValueError(
                f"forecast.lags {early} are shorter than forecast.horizon ({self.horizon}): "
                "the model would use values not yet known when it forecasts; use lags >= "
                "the horizon"
            )
        if any(w < 1 for w in self.windows):
            raise ValueError("forecast.windows must be positive numbers of periods")
        return self

    @property
    def resolved_lags(self) -> list[int]:
        return self.lags or [self.horizon, 2 * self.horizon, 4 * self.horizon]


class TrainingConfig(_Strict):
    """Model search settings."""

    metric: str | None = Field(
        default=None,
        description="Primary metric; defaults to roc_auc (binary), f1_macro (multiclass), rmse.",
    )
    budget: TrainingBudget = Field(default_factory=TrainingBudget)
    model_families: list[Family] | None = Field(
        default=None,
        min_length=1,
        description="Families searched in one study; the best trial's family wins. "
        "Default: every installed family.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="Where trials run: local processes, or Ray."
    )
    n_workers: int | Literal["auto"] = Field(
        default="auto", description="Trials run at once; auto = one per CPU (at most trials)."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster address (executor: ray); local Ray when omitted."
    )
    optuna_storage: str | None = Field(
        default=None,
        description="Optuna storage URL shared by the workers (needed for a remote Ray "
        "cluster); a temporary journal file when omitted.",
    )
    refit: bool = Field(
        default=False,
        description="Holdout: refit the winner on train + validation rows at the end.",
    )
    class_weight: Literal["auto", "balanced", "none"] = Field(
        default="auto",
        description="Classification: auto lets the search try balanced weights when a "
        "class is under 20% of rows.",
    )
    calibration: Literal["auto", "none", "sigmoid", "isotonic"] = Field(
        default="auto",
        description="Binary: calibrate probabilities on the validation rows; auto keeps "
        "calibration only when it lowers the cross-validated log loss.",
    )
    threshold: Literal["f1", "cost", "none"] = Field(
        default="f1",
        description="Binary decision threshold chosen on validation rows: best F1, lowest "
        "cost (training.costs), or none (0.5 on the probability).",
    )
    costs: CostConfig | None = Field(default=None, description="Error costs for threshold: cost.")
    validation: Literal["auto", "holdout", "cv"] = Field(
        default="auto",
        description="How trials are scored: on the validation split (holdout), by k-fold "
        "cross-validation over train+validation (cv), or cv for small tables (auto).",
    )
    cv_folds: int = Field(default=5, ge=2, le=20)
    cv_max_rows: int = Field(
        default=10_000, ge=0, description="auto uses cv up to this many train+validation rows"
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in HIGHER_IS_BETTER:
            raise ValueError(f"unknown metric {value!r}; choose one of {sorted(HIGHER_IS_BETTER)}")
        return value

    @field_validator("n_workers")
    @classmethod
    def _positive_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("training.n_workers must be at least 1, or 'auto'")
        return value

    @model_validator(mode="after")
    def _costs_for_cost_threshold(self) -> TrainingConfig:
        if self.threshold == "cost" and self.costs is None:
            raise ValueError(
                "training.threshold 'cost' needs training.costs: "
                "{false_positive: ..., false_negative: ...}"
            )
        return self


Outcome = Literal["true_positive", "false_positive", "true_negative", "false_negative"]


class EvaluationConfig(_Strict):
    """What the evaluation of a candidate reports beside the metrics."""

    slice_columns: list[str] = Field(
        default_factory=list,
        description="Columns whose values get their own metrics (numeric ones in quartiles).",
    )
    auto_slices: bool = Field(
        default=True,
        description="Also slice by every categorical feature with 2-12 values.",
    )
    sensitive_columns: list[str] = Field(
        default_factory=list,
        description="Columns for the fairness report (fairlearn); they need not be features.",
    )
    business_values: dict[Outcome, float] = Field(
        default_factory=dict,
        description="Binary: value of one outcome of each kind, e.g. {true_positive: 180, "
        "false_positive: -20, false_negative: -200}; reported per 1000 predictions.",
    )
    explain: bool = Field(
        default=True,
        description="SHAP global importance of each input column (needs headway[explain]).",
    )
    behaviour: bool = Field(
        default=True,
        description="Behavioural checks: determinism, invariance, monotonicity, edge rows.",
    )
    invariant_columns: list[str] = Field(
        default_factory=list,
        description="Columns whose values must not change a prediction (permuted to check).",
    )
    monotonic: dict[str, Literal["increasing", "decreasing"]] = Field(
        default_factory=dict,
        description="Numeric columns whose rise must raise (or lower) the score.",
    )
    bootstrap: int = Field(
        default=200, ge=0, le=10_000, description="Bootstrap resamples for the intervals."
    )


class GateConfig(_Strict):
    """What a candidate must reach to become ``champion``."""

    min_metrics: dict[str, float] = Field(
        default_factory=dict, description="Lower bounds, e.g. {roc_auc: 0.7}."
    )
    max_metrics: dict[str, float] = Field(
        default_factory=dict, description="Upper bounds, e.g. {rmse: 12.5}."
    )
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        description="How much the candidate must beat the champion on the primary metric.",
    )
    min_relative_improvement: float = Field(
        default=0.0,
        ge=0,
        description="The same, as a fraction of the champion's value (0.01 = 1%).",
    )
    paired_bootstrap: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="Resamples of the paired bootstrap that decides whether a change "
        "against the champion is beyond noise; 0 compares the point values.",
    )
    max_demographic_parity_difference: float | None = Field(
        default=None, ge=0, le=1, description="Bound for every evaluation.sensitive_columns."
    )
    max_equalized_odds_difference: float | None = Field(
        default=None, ge=0, le=1, description="Bound for every evaluation.sensitive_columns."
    )
    max_latency_ms: float | None = Field(
        default=None, gt=0, description="Bound on the p95 time of a one-row prediction."
    )
    max_model_size_mb: float | None = Field(
        default=None, gt=0, description="Bound on the serialized model's size."
    )
    behaviour: bool = Field(
        default=True, description="Every behavioural check of the evaluation must pass."
    )

    @field_validator("min_metrics", "max_metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(HIGHER_IS_BETTER))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(HIGHER_IS_BETTER)}")
        return value


class GovernanceConfig(_Strict):
    """Who moves the ``champion`` alias."""

    promotion: Literal["auto", "manual"] = Field(
        default="auto",
        description="auto: a blessed candidate becomes champion; manual: it becomes "
        "challenger with approval pending, until 'headway approve' or 'headway reject'.",
    )


class MlflowConfig(_Strict):
    """Where runs and models are stored. ``None`` means the embedded store in ``.headway/``."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str | None = Field(default=None, description="Defaults to the project name.")
    model_name: str | None = Field(default=None, description="Defaults to the project name.")


class ControlPlaneConfig(_Strict):
    """Where headway keeps its own state (the audit log of decisions)."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (PostgreSQL for a team); DIR/.headway/control.db if omitted.",
    )


class ServingConfig(_Strict):
    """Defaults for ``headway serve``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class ProjectConfig(_Strict):
    """The typed content of ``headway.yaml``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    task: Task
    description: str | None = Field(
        default=None,
        description="Intended use of the model, for its model card: who uses it, for what.",
    )
    limitations: list[str] = Field(
        default_factory=list, description="Known limitations, listed on the model card."
    )
    data: DataConfig
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    split: SplitConfig = Field(default_factory=SplitConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    gates: GateConfig = Field(default_factory=GateConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    control_plane: ControlPlaneConfig = Field(default_factory=ControlPlaneConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)

    @model_validator(mode="after")
    def _metrics_fit_task(self) -> ProjectConfig:
        if self.task == "forecast" and not self.data.timestamp_column:
            raise ValueError(
                "task 'forecast' needs data.timestamp_column (the period of each row) and "
                "usually data.series_columns (e.g. [store_id, product_id])"
            )
        if self.data.series_columns and self.task != "forecast":
            raise ValueError("data.series_columns applies to task 'forecast' only; remove it")
        allowed = TASK_METRICS[self.task]
        named = {"training.metric": [self.training.metric] if self.training.metric else []}
        named["gates.min_metrics"] = list(self.gates.min_metrics)
        named["gates.max_metrics"] = list(self.gates.max_metrics)
        for key, metrics in named.items():
            wrong = [m for m in metrics if m not in allowed]
            if wrong:
                raise ValueError(
                    f"{key}: {wrong} do not apply to task {self.task!r}; "
                    f"choose from {list(allowed)}"
                )
        return self

    @property
    def metric(self) -> str:
        """The primary metric used for tuning and for the comparison with the champion."""
        return self.training.metric or DEFAULT_METRIC[self.task]

    @property
    def model_name(self) -> str:
        return self.mlflow.model_name or self.name

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.name

    def config_hash(self) -> str:
        """A stable hash of the configuration, recorded as lineage."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


def _describe_error(error: Any, known_keys: dict[tuple[str | int, ...], list[str]]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, name = loc[:-1], str(loc[-1])
        candidates = known_keys.get(parent, [])
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f" Did you mean '{'.'.join([*map(str, parent), close[0]])}'?" if close else ""
        allowed = f" Allowed keys here: {', '.join(candidates)}." if candidates else ""
        return f"unknown key '{key}'.{hint}{allowed} Remove or rename it."
    if kind == "missing":
        return f"required key '{key}' is missing. Add it (see docs/configuration.md)."
    given = error.get("input")
    shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
    return f"key '{key}': {error['msg']} (got {shown}). Fix the value in headway.yaml."


def _known_keys() -> dict[tuple[str | int, ...], list[str]]:
    """Allowed keys at each nesting level, for 'did you mean' hints."""
    out: dict[tuple[str | int, ...], list[str]] = {}

    def walk(model: type[BaseModel], prefix: tuple[str | int, ...]) -> None:
        out[prefix] = list(model.model_fields)
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, (*prefix, name))

    walk(ProjectConfig, ())
    return out


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a ``headway.yaml``.

    Raises:
        ProjectNotFoundError: the file does not exist.
        ConfigError: the YAML is malformed or a key is unknown, missing or mistyped;
            the message lists every problem with its key.
    """
    path = Path(path)
    if not path.is_file():
        raise ProjectNotFoundError(
            f"{path}: no such project file. Create one with 'headway init DIR --example churn'."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (name, task, data, ...), got {type(raw).__name__}."
        )
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        known = _known_keys()
        problems = "\n".join(f"  - {_describe_error(err, known)}" for err in exc.errors())
        raise ConfigError(f"{path}: invalid project file:\n{problems}") from exc


@dataclass(frozen=True)
class Project:
    """A project directory with its validated configuration and resolved locations.

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
        config = load_config(root / CONFIG_FILENAME)
        return cls(root=root, config=config, settings=settings or load_settings())

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
    def schema_path(self) -> Path:
        return self.root / self.config.data.schema_file

    @property
    def uses_embedded_store(self) -> bool:
        return self.settings.tracking_uri is None and self.config.mlflow.tracking_uri is None

    @property
    def tracking_uri(self) -> str:
        """``HEADWAY_TRACKING_URI``, else ``mlflow.tracking_uri``, else the embedded SQLite."""
        uri = self.settings.tracking_uri or self.config.mlflow.tracking_uri
        return uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def control_db_url(self) -> str:
        """``HEADWAY_CONTROL_DB_URL``, else ``control_plane.url``, else the embedded
        ``DIR/.headway/control.db``."""
        url = self.settings.control_db_url or self.config.control_plane.url
        return url or f"sqlite:///{self.state_dir / 'control.db'}"

    @property
    def registry_uri(self) -> str:
        return self.settings.registry_uri or self.config.mlflow.registry_uri or self.tracking_uri

    @property
    def artifact_location(self) -> str | None:
        """Artifact root for a new experiment: the server's when MLflow is a server, else
        ``DIR/.headway/artifacts`` (a database URI alone would put them in ``./mlruns`` of
        whatever directory the command runs in)."""
        scheme = self.tracking_uri.split(":", 1)[0].lower()
        if scheme in ("http", "https", "databricks"):
            return None
        return (self.state_dir / "artifacts").as_uri()
