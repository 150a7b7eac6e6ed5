"""``ProjectConfig``: the typed content of ``headway.yaml``, one field per section."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, model_validator

from headway.config._base import Section
from headway.config.automation import AutomationConfig
from headway.config.controlplane import ControlPlaneConfig
from headway.config.data import DataConfig, SplitConfig
from headway.config.evaluation import EvaluationConfig
from headway.config.features import FeaturesConfig
from headway.config.forecast import ForecastConfig
from headway.config.gates import GateConfig
from headway.config.governance import GovernanceConfig
from headway.config.monitoring import MonitoringConfig
from headway.config.predictions import PredictionLogConfig
from headway.config.serving import ServingConfig
from headway.config.tracking import MlflowConfig
from headway.config.training import TrainingConfig
from headway.redact import redact_config
from headway.tasks import DEFAULT_METRIC, TASK_METRICS, Task

__all__ = ["ProjectConfig"]


class ProjectConfig(Section):
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
    predictions: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    automation: AutomationConfig = Field(default_factory=AutomationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)

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
        """A stable hash of the configuration, recorded as lineage.

        Credentials are masked first (:func:`headway.redact.redact_config`): the hash is
        published beside the masked params, and must not let a password be guessed from
        them; nor should changing a password change the lineage.
        """
        payload = json.dumps(redact_config(self.model_dump(mode="json")), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]
