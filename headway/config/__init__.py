"""``headway.yaml`` -> typed configuration, one module per section.

Each section is a strict, frozen pydantic model (an unknown key is an error that names it
and suggests the right one); :func:`load_config` reads and validates a whole file.
"""

from __future__ import annotations

from headway.config.automation import AutomationConfig, RolloutConfig, RolloutStep
from headway.config.controlplane import ControlPlaneConfig
from headway.config.data import DataConfig, SourceConfig, SplitConfig
from headway.config.evaluation import EvaluationConfig, Outcome
from headway.config.features import FeaturesConfig
from headway.config.forecast import ForecastConfig
from headway.config.gates import GateConfig
from headway.config.governance import GovernanceConfig
from headway.config.loader import load_config
from headway.config.monitoring import MonitoringConfig
from headway.config.predictions import PredictionLogConfig
from headway.config.project import ProjectConfig
from headway.config.serving import ServingConfig
from headway.config.tracking import MlflowConfig
from headway.config.training import CostConfig, Family, TrainingBudget, TrainingConfig

__all__ = [
    "AutomationConfig",
    "ControlPlaneConfig",
    "CostConfig",
    "DataConfig",
    "EvaluationConfig",
    "Family",
    "FeaturesConfig",
    "ForecastConfig",
    "GateConfig",
    "GovernanceConfig",
    "MlflowConfig",
    "MonitoringConfig",
    "Outcome",
    "PredictionLogConfig",
    "ProjectConfig",
    "RolloutConfig",
    "RolloutStep",
    "ServingConfig",
    "SourceConfig",
    "SplitConfig",
    "TrainingBudget",
    "TrainingConfig",
    "load_config",
]
