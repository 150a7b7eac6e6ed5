"""Example projects written by ``headway init --example NAME``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headway.exceptions import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXAMPLES", "Example", "write_example"]

GITIGNORE = """\
# headway keeps its embedded stores (MLflow database, artifacts, logs) here.
.headway/
"""


@dataclass(frozen=True)
class Example:
    """A bundled example: a data generator and the project file that goes with it."""

    name: str
    description: str
    data_file: str
    generator: str  # "module:function", imported when data is generated (numpy, pandas)
    config_template: str
    # "module:function(root, n_rows, *, seed)" writing more files (feature sources), or None.
    extras: str | None = None

    def generate(self, n_rows: int, *, seed: int = 0) -> pd.DataFrame:
        """``n_rows`` rows of the example's data, the same for the same seed."""
        module, _, function = self.generator.partition(":")
        make = getattr(importlib.import_module(module), function)
        frame: pd.DataFrame = make(n_rows, seed=seed)
        return frame


_CHURN_YAML = """\
# headway project file. Every key is documented in docs/configuration.md.
name: {name}
task: binary                     # binary | multiclass | regression | forecast
seed: 42

data:
  source:
    path: {data_file}            # CSV or Parquet, relative to this file
  target: churned                # the column to predict
  id_column: customer_id         # unique per row; never used as a feature
  timestamp_column: observed_at  # enables a time-based holdout (train on the past)
  exclude_columns: []

split:
  valid_fraction: 0.2            # used to tune hyper-parameters
  test_fraction: 0.2             # the most recent rows: held out for evaluation and gates

training:
  metric: roc_auc
  budget:
    trials: 20                   # Optuna trials; whichever limit comes first stops the search
    timeout_seconds: 45
  # Families searched; default: every installed one.
  # model_families: [lightgbm, xgboost, linear, random_forest, extra_trees]

gates:
  min_metrics:
    roc_auc: 0.70                # a candidate below this never becomes champion
  min_improvement: 0.0           # how much it must beat the current champion by

serving:
  host: 127.0.0.1
  port: 8080
"""

_DEMAND_YAML = """\
# headway project file. Every key is documented in docs/configuration.md.
name: {name}
task: forecast                   # demand forecasting: one model for every series
seed: 42

data:
  source:
    path: {data_file}
  target: units_sold             # what to forecast, per series and day
  timestamp_column: date         # the period of each row
  series_columns: [store_id, product_id]   # one series per store x product

forecast:
  horizon: 7                     # forecast 7 days ahead: no feature newer than 7 days
  lags: [7, 14, 28]              # units sold 7, 14 and 28 days before
  windows: [7, 28]               # rolling means ending 7 days before
  frequency: D

split:
  valid_fraction: 0.2            # the weeks before the test weeks: tuning
  test_fraction: 0.2             # the most recent weeks: evaluation and gates

training:
  metric: wape                   # total absolute error / total units sold
  budget:
    trials: 20
    timeout_seconds: 60
  # Families searched; default: every installed one.
  # model_families: [lightgbm, xgboost, linear, random_forest, extra_trees]

gates:
  max_metrics:
    wape: 0.45                   # a candidate worse than this never becomes champion

serving:
  host: 127.0.0.1
  port: 8080
"""

_CREDIT_YAML = """\
# headway project file. Every key is documented in docs/configuration.md.
name: {name}
task: binary
seed: 42

data:
  source:
    path: {data_file}
  target: defaulted              # 1: the loan defaulted within 12 months
  id_column: application_id
  timestamp_column: applied_at
  # Sensitive attributes are not features, but the fairness report audits them.
  exclude_columns: [sex, age_group]

split:
  valid_fraction: 0.2
  test_fraction: 0.2

training:
  metric: roc_auc
  budget:
    trials: 20
    timeout_seconds: 45
  # Decline when the expected loss is higher than the margin given up:
  threshold: cost
  costs:
    false_positive: 100          # a good applicant declined: the margin lost
    false_negative: 1000         # a defaulter approved: the principal lost

evaluation:
  sensitive_columns: [sex, age_group]
  slice_columns: [employment, purpose]
  business_values:               # per application, against declining everyone
    true_negative: 100           # a good loan made
    false_negative: -1000        # a loan that defaulted

gates:
  min_metrics:
    roc_auc: 0.70

serving:
  host: 127.0.0.1
  port: 8080
"""

_CHURN_FEATURES_YAML = """\
# headway project file. Every key is documented in docs/configuration.md.
# The model trains on the feature service churn_model (features.yaml): data.source is the
# entity table, and each row gets the service's features as of its event_timestamp.
name: {name}
task: binary
seed: 42

data:
  source:
    path: {data_file}            # the entity table: customer_id, event_timestamp, churned
  target: churned
  id_column: customer_id
  timestamp_column: event_timestamp

features:
  definitions: features.yaml
  service: churn_model           # point-in-time training set; served by customer_id

split:
  valid_fraction: 0.2
  test_fraction: 0.2

training:
  metric: roc_auc
  budget:
    trials: 20
    timeout_seconds: 45

gates:
  min_metrics:
    roc_auc: 0.70

serving:
  host: 127.0.0.1
  port: 8080
"""

EXAMPLES: dict[str, Example] = {
    "churn": Example(
        name="churn",
        description="Binary classification: which customers will cancel their subscription.",
        data_file="data/customers.csv",
        generator="headway.datasets.churn:make_churn",
        config_template=_CHURN_YAML,
    ),
    "churn-features": Example(
        name="churn-features",
        description="Churn from a feature store: an entity table, two feature views with "
        "TTLs, point-in-time training, serving by customer_id.",
        data_file="data/churn_events.csv",
        generator="headway.datasets.churn_features:make_churn_events",
        config_template=_CHURN_FEATURES_YAML,
        extras="headway.datasets.churn_features:write_feature_sources",
    ),
    "credit": Example(
        name="credit",
        description="Binary classification with a fairness audit: will a loan default?",
        data_file="data/applications.csv",
        generator="headway.datasets.credit:make_credit",
        config_template=_CREDIT_YAML,
    ),
    "demand": Example(
        name="demand",
        description="Demand forecasting: daily units sold per store and product, 7 days ahead.",
        data_file="data/sales.csv",
        generator="headway.datasets.demand:make_demand",
        config_template=_DEMAND_YAML,
    ),
}


def write_example(
    example: str,
    directory: str | Path,
    *,
    n_rows: int = 50_000,
    seed: int = 0,
    name: str | None = None,
    force: bool = False,
) -> Path:
    """Write an example project: ``headway.yaml``, its data file and a ``.gitignore``.

    Args:
        example: a key of :data:`EXAMPLES`.
        directory: the project directory; created if missing.
        n_rows: rows of generated data.
        seed: seed of the generator.
        name: project (and registered model) name; defaults to the example's name.
        force: overwrite an existing ``headway.yaml``.

    Returns:
        The path of the written ``headway.yaml``.

    Raises:
        ConfigError: unknown example, or the directory already holds a project.
    """
    if example not in EXAMPLES:
        raise ConfigError(
            f"unknown example {example!r}; choose one of: {', '.join(sorted(EXAMPLES))}"
        )
    spec = EXAMPLES[example]
    root = Path(directory)
    config_path = root / "headway.yaml"
    if config_path.exists() and not force:
        raise ConfigError(
            f"{config_path} already exists; use another directory, or --force to overwrite it."
        )
    data_path = root / spec.data_file
    data_path.parent.mkdir(parents=True, exist_ok=True)
    frame = spec.generate(n_rows, seed=seed)
    tmp = data_path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(data_path)
    config_path.write_text(
        spec.config_template.format(name=name or spec.name, data_file=spec.data_file),
        encoding="utf-8",
    )
    if spec.extras is not None:
        module, _, function = spec.extras.partition(":")
        getattr(importlib.import_module(module), function)(root, n_rows, seed=seed)
    gitignore = root / ".gitignore"
    if not gitignore.exists() or ".headway/" not in gitignore.read_text(encoding="utf-8"):
        with gitignore.open("a", encoding="utf-8") as fh:
            fh.write(GITIGNORE)
    return config_path
