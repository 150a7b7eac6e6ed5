"""The declared layout of a model version: every tag and run artifact headway writes.

A registered version carries its lineage, decisions and evaluation as ``headway.*`` tags on
the model version, and its reports as artifacts of the run that trained it. Writers (the
pipeline, governance) and readers (serving, cards, reproduce, the CLI) name them through
this module only, so that a new reader (monitoring, the dashboard) finds them here and a
rename cannot miss a reader. A test checks that a pipeline run writes exactly what is
declared.

Names are plain strings, so that the layout stays readable from any MLflow client without
headway (``mlflow.MlflowClient().get_model_version(...).tags["headway.blessed"]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ARTIFACTS",
    "CHALLENGER",
    "CHAMPION",
    "LINEAGE_TAGS",
    "MODEL_ARTIFACT",
    "RUN_TAGS",
    "TAG_PREFIX",
    "TRIAL_TAGS",
    "VERSION_TAGS",
    "Artifact",
    "Tag",
    "figure",
    "tags",
]

TAG_PREFIX = "headway."

# Aliases: champion serves production; challenger is blessed and waits for approval.
CHAMPION = "champion"
CHALLENGER = "challenger"

# The name of the logged model inside a pipeline run.
MODEL_ARTIFACT = "model"

Writer = Literal["pipeline", "governance"]


@dataclass(frozen=True)
class Tag:
    """One ``headway.*`` tag.

    Attributes:
        key: the short name (``blessed``); the tag is ``headway.<key>``.
        meaning: what the value says, for docs and readers.
        writer: who writes it: the pipeline at registration, or governance later.
        required: always written by its writer (else only when it applies, e.g. the
            decision threshold of a binary classifier).
        prefix: the key is a prefix of a family of tags (``metric.`` -> ``metric.roc_auc``).
    """

    key: str
    meaning: str
    writer: Writer = "pipeline"
    required: bool = True
    prefix: bool = False

    @property
    def name(self) -> str:
        return f"{TAG_PREFIX}{self.key}"

    def matches(self, name: str) -> bool:
        """Whether the full tag ``name`` is this tag (or one of its family)."""
        return name.startswith(self.name) if self.prefix else name == self.name


@dataclass(frozen=True)
class Artifact:
    """One file among a pipeline run's artifacts.

    Attributes:
        path: the path in the run's artifacts; a ``*`` matches one file name part.
        meaning: what the file holds.
        required: written by every run (else only when it applies).
    """

    path: str
    meaning: str
    required: bool = True

    def matches(self, path: str) -> bool:
        if "*" not in self.path:
            return path == self.path
        head, _, tail = self.path.partition("*")
        return (
            path.startswith(head)
            and path.endswith(tail)
            and "/" not in path[len(head) : len(path) - len(tail)]
        )


# -- tags -----------------------------------------------------------------------------

# Lineage: recorded on the pipeline run and on the version it registers.
DATASET_HASH = Tag("dataset_hash", "content hash of the dataset version trained on")
SCHEMA_HASH = Tag("schema_hash", "hash of the data schema the dataset was validated against")
CONFIG_HASH = Tag("config_hash", "hash of the project configuration")
SOURCE_URI = Tag("source_uri", "where the data was read from")
SNAPSHOT_URI = Tag("snapshot_uri", "the Parquet snapshot of the dataset version")
SNAPSHOT_RUN = Tag(
    "snapshot_run",
    "the run whose artifacts hold the dataset snapshot (data/snapshot/), when it was logged "
    "to the tracking server (mlflow.dataset_snapshots)",
    required=False,
)
PACKAGES = Tag("packages", "JSON: versions of Python and the libraries that shape the model")
GIT_COMMIT = Tag("git_commit", "commit of the project directory", required=False)
GIT_DIRTY = Tag(
    "git_dirty", "true when the project directory had uncommitted changes", required=False
)
# Lineage of a table the autopilot built for a retraining: the champion's training data
# plus the labelled rows of a prediction-log window.
RETRAIN_TRIGGER = Tag(
    "retrain_trigger", "what started the retraining (schedule, volume, drift, ...)", required=False
)
BASE_DATASET_HASH = Tag(
    "base_dataset_hash", "the champion's training dataset the retraining extended", required=False
)
LOG_WINDOW_START = Tag(
    "log_window_start", "first prediction time of the logged rows added (UTC)", required=False
)
LOG_WINDOW_END = Tag(
    "log_window_end", "end of the prediction-log window read (UTC, exclusive)", required=False
)
LOG_ROWS = Tag("log_rows", "labelled prediction-log rows added to the table", required=False)
# Lineage of a point-in-time training set built from a feature service.
FEATURE_SERVICE = Tag(
    "feature_service", "the feature service the training set was built from", required=False
)
FEATURE_DEFINITIONS_HASH = Tag(
    "feature_definitions_hash", "hash of the feature definitions used", required=False
)
FEATURE_SOURCES = Tag(
    "feature_sources", "JSON: content hash of each feature view's source files", required=False
)

# What the pipeline knows at registration.
TASK = Tag("task", "binary, multiclass, regression or forecast")
FAMILY = Tag("family", "model family of the winning trial")
PRIMARY_METRIC = Tag("primary_metric", "the metric the candidate was tuned and compared on")
BLESSED = Tag("blessed", "true when the candidate passed the gates")
GATE_CHECKS = Tag("gate_checks", "JSON: gate check name -> passed")
THRESHOLD = Tag("threshold", "decision threshold on the positive probability", required=False)
FEATURE_COLUMNS = Tag("feature_columns", "JSON: the model's input columns, in order")
CATEGORICAL_COLUMNS = Tag("categorical_columns", "JSON: the input columns treated as categories")
REQUIRES_HEADWAY = Tag(
    "requires_headway",
    "true when loading the model needs headway installed (forecasting models, XGBoost "
    "classifiers of labels other than 0..k-1); else plain MLflow loads it",
)
TOP_FEATURES = Tag("top_features", "JSON: the ten most important input columns", required=False)
METRIC = Tag("metric.", "test metrics, one tag per metric: metric.<name>", prefix=True)

# What governance writes later.
APPROVAL = Tag("approval", "pending, approved or rejected", "governance", required=False)
APPROVAL_BY = Tag("approval_by", "who approved or rejected", "governance", required=False)
APPROVAL_REASON = Tag("approval_reason", "why", "governance", required=False)
APPROVAL_AT = Tag("approval_at", "when (UTC, ISO 8601)", "governance", required=False)
PREVIOUS_CHAMPION = Tag(
    "previous_champion", "the version this one replaced as champion", "governance", False
)
ROLLED_BACK = Tag("rolled_back", "true when champion moved back from it", "governance", False)
ARCHIVED = Tag("archived", "true when the version was retired", "governance", required=False)
ROLLOUT = Tag(
    "rollout",
    "how the autopilot's rollout of it ended: promoted, rolled_back, expired or aborted",
    "governance",
    required=False,
)

# On the nested run of each trial.
TRIAL_STATE = Tag("trial_state", "complete, pruned or failed")
TRIAL_ERROR = Tag("error", "why a failed trial failed", required=False)

LINEAGE_TAGS: tuple[Tag, ...] = (
    DATASET_HASH,
    SCHEMA_HASH,
    CONFIG_HASH,
    SOURCE_URI,
    SNAPSHOT_URI,
    SNAPSHOT_RUN,
    PACKAGES,
    GIT_COMMIT,
    GIT_DIRTY,
    RETRAIN_TRIGGER,
    BASE_DATASET_HASH,
    LOG_WINDOW_START,
    LOG_WINDOW_END,
    LOG_ROWS,
    FEATURE_SERVICE,
    FEATURE_DEFINITIONS_HASH,
    FEATURE_SOURCES,
)
VERSION_TAGS: tuple[Tag, ...] = (
    *LINEAGE_TAGS,
    TASK,
    FAMILY,
    PRIMARY_METRIC,
    BLESSED,
    GATE_CHECKS,
    THRESHOLD,
    FEATURE_COLUMNS,
    CATEGORICAL_COLUMNS,
    REQUIRES_HEADWAY,
    TOP_FEATURES,
    METRIC,
    APPROVAL,
    APPROVAL_BY,
    APPROVAL_REASON,
    APPROVAL_AT,
    PREVIOUS_CHAMPION,
    ROLLED_BACK,
    ARCHIVED,
    ROLLOUT,
)
RUN_TAGS: tuple[Tag, ...] = (*LINEAGE_TAGS, BLESSED)
TRIAL_TAGS: tuple[Tag, ...] = (TRIAL_STATE, TRIAL_ERROR)

# -- run artifacts --------------------------------------------------------------------

CONFIG_FILE = Artifact("headway.yaml", "the project file the run used")
ENVIRONMENT = Artifact("environment.json", "versions of Python and the libraries")
DATASET_VERSION = Artifact("data/dataset_version.json", "the dataset version: hash, rows, source")
VALIDATION_JSON = Artifact("data/validation_report.json", "the data validation checks")
VALIDATION_HTML = Artifact("data/validation_report.html", "the same, as a page with plots")
SCHEMA = Artifact("data/schema.yaml", "the data schema; serving enforces it on requests")
SPLIT = Artifact("data/split.json", "the split's scheme, strategy, sizes and periods")
TRAINING_KEYS = Artifact(
    "data/training_keys.parquet",
    "identities of the rows the model learned from; later gates leave them out of a "
    "comparison with it",
)
SNAPSHOT = Artifact(
    "data/snapshot/*",
    "the dataset version's snapshot (data.parquet, version.json, validation.json), logged "
    "by the first run on that version when mlflow.dataset_snapshots applies",
    required=False,
)
BEST_TRIAL = Artifact("search/best_trial.json", "the winner's parameters; reproduce replays them")
SEARCH_MODEL = Artifact("search/model.json", "the trained model: family, params, leaderboard")
EVALUATION = Artifact("evaluation/report.json", "metrics, intervals, slices, fairness")
BLESSING = Artifact("evaluation/blessing.json", "the gate decision with every check")
FIGURES = Artifact("evaluation/*.png", "evaluation figures (ROC, calibration, residuals, ...)")
REFERENCE = Artifact(
    "monitoring/reference.json",
    "what monitoring compares live traffic with: a sketch of each input column, of the "
    "model's output and of the label on the training and validation rows",
)
REFERENCE_SAMPLE = Artifact(
    "monitoring/reference_sample.parquet",
    "a seeded sample of those rows with the model's output, label and partition "
    "(data-driven thresholds, the multivariate check, label-free estimation)",
)
MODEL_CARD_MD = Artifact("model_card.md", "the model card at registration")
MODEL_CARD_HTML = Artifact("model_card.html", "the same, as a page")

ARTIFACTS: tuple[Artifact, ...] = (
    CONFIG_FILE,
    ENVIRONMENT,
    DATASET_VERSION,
    VALIDATION_JSON,
    VALIDATION_HTML,
    SCHEMA,
    SPLIT,
    TRAINING_KEYS,
    SNAPSHOT,
    BEST_TRIAL,
    SEARCH_MODEL,
    EVALUATION,
    BLESSING,
    FIGURES,
    REFERENCE,
    REFERENCE_SAMPLE,
    MODEL_CARD_MD,
    MODEL_CARD_HTML,
)


def figure(name: str) -> str:
    """The artifact path of the evaluation figure ``name`` (``roc.png``)."""
    return FIGURES.path.replace("*", name.removesuffix(".png"))


def tags(values: dict[str, object]) -> dict[str, str]:
    """``headway.*`` tags from plain values keyed by short name (dicts and lists as JSON,
    booleans lowercase, ``None`` left out).

    Raises:
        KeyError: a key that is not declared (as a tag or under a prefix tag).
    """
    declared = {t.key for t in (*VERSION_TAGS, *RUN_TAGS, *TRIAL_TAGS) if not t.prefix}
    prefixes = [t.key for t in VERSION_TAGS if t.prefix]
    out = {}
    for key, value in values.items():
        if key not in declared and not any(key.startswith(p) for p in prefixes):
            raise KeyError(f"tag {key!r} is not declared in headway.registry.layout")
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, dict | list | tuple) else str(value)
        out[f"{TAG_PREFIX}{key}"] = text.lower() if isinstance(value, bool) else text
    return out
