"""``headway run``: ingest, validate, split, train, evaluate, gate, register, promote."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from headway.artifacts import (
    Blessing,
    EvaluationReport,
    ModelVersionRef,
    PipelineResult,
    TrainedModel,
    to_dict,
)
from headway.config import ProjectConfig
from headway.controlplane import AuditLog
from headway.data import Dataset, DatasetStore, ingest_and_validate, split
from headway.data.split import Split, row_identity
from headway.evaluation import evaluate, evaluation_figures
from headway.exceptions import ConfigError
from headway.features import feature_frame
from headway.gates import gate
from headway.lineage import code_revision, environment
from headway.pipeline.references import build_for_model, log_reference
from headway.pipeline.snapshots import publish_snapshot, publishes_snapshots
from headway.project import CONFIG_FILENAME, Project
from headway.redact import redact_config, redact_yaml
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry, TrackedRun, layout
from headway.registry.cards import model_card
from headway.registry.governance import Governor
from headway.registry.mlflow_registry import requires_headway
from headway.reports import render_validation_html
from headway.tasks import HIGHER_IS_BETTER
from headway.training import TrialRecord
from headway.training.search import check_training
from headway.training.stage import forecast_features, train_model

__all__ = ["NullObserver", "PipelineObserver", "run_pipeline"]

logger = logging.getLogger(__name__)


class PipelineObserver(Protocol):
    """Receives progress events; the CLI renders them with Rich, tests may record them."""

    def stage_started(self, stage: str) -> None: ...

    def stage_finished(self, stage: str, summary: str) -> None: ...

    def trial_finished(self, record: TrialRecord) -> None: ...


class NullObserver:
    """An observer that ignores every event."""

    def stage_started(self, stage: str) -> None:
        pass

    def stage_finished(self, stage: str, summary: str) -> None:
        pass

    def trial_finished(self, record: TrialRecord) -> None:
        pass


# MLflow run status of a trial's nested run.
_RUN_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


def _flatten(prefix: str, value: object, out: dict[str, str]) -> dict[str, str]:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = str(value)[:500]
    return out


def _ranked(board: dict[str, float], metric: str) -> list[tuple[str, float]]:
    return sorted(board.items(), key=lambda kv: kv[1], reverse=HIGHER_IS_BETTER[metric])


def _data_summary(dataset: Dataset, parts: Split) -> str:
    version, report = dataset.version, dataset.report
    head = f"{version.n_rows:,} rows x {len(version.columns)} columns, version {version.short_hash}"
    if dataset.reused:
        head += " (unchanged: reused the validated snapshot, ingestion and validation skipped)"
    else:
        warned = f", {len(report.warnings)} warning(s)" if report.warnings else ""
        head += f"; {len(report.checks)} checks passed{warned}"
    if dataset.schema_written:
        head += "; inferred the schema and wrote it to schema.yaml (review it)"
    sizes = f"{len(parts.train):,}/{len(parts.valid):,}/{len(parts.test):,}"
    return f"{head}; {parts.strategy} split {sizes}"


def run_pipeline(
    project: Project,
    *,
    observer: PipelineObserver | None = None,
    frame: pd.DataFrame | None = None,
    source_uri: str | None = None,
    lineage_extra: Mapping[str, str] | None = None,
) -> PipelineResult:
    """Run the whole loop once for ``project`` and return what it produced.

    Args:
        project: the loaded project.
        observer: receives progress events.
        frame: train on this table instead of ``data.source`` (Python API).
        source_uri: where ``frame`` came from, recorded in its dataset version.
        lineage_extra: more lineage tags for the version (e.g. the retraining trigger and
            the prediction-log window its new rows came from).

    Bad data stops the run before anything is written to MLflow. A candidate that fails
    the gates is still registered (tag ``headway.blessed=false``) but gets no alias.

    Raises:
        DataError: the data cannot be read or fails validation.
        TrainingError: no model could be trained within the budget.
        RegistryError: the MLflow store refused an operation.
    """
    obs = observer or NullObserver()
    cfg = project.config
    started = time.perf_counter()

    # An uninstalled family or executor, or monotonic columns no family can enforce, stop
    # the run here.
    check_training(cfg.training, monotonic=cfg.evaluation.monotonic)
    obs.stage_started("data")
    if frame is None and cfg.features.service is not None:
        # An entity table plus a feature service: the point-in-time training set.
        from headway.pipeline.features import build_training_set

        training_set = build_training_set(project)
        frame, source_uri = training_set.frame, training_set.source_uri
        lineage_extra = {**training_set.lineage, **dict(lineage_extra or {})}
    store = DatasetStore(project.datasets_dir)
    dataset = ingest_and_validate(
        cfg.data, task=cfg.task, root=project.root, store=store, frame=frame, source_uri=source_uri
    )
    version, report = dataset.version, dataset.report
    parts = split_dataset(dataset, cfg)
    # Forecasting features are built (and a table with two rows for one series and period
    # refused) before anything is tracked.
    front = forecast_features(cfg, dataset.frame) if cfg.task == "forecast" else None
    _check_evaluation_columns(cfg, dataset.frame)
    obs.stage_finished("data", _data_summary(dataset, parts))

    project.state_dir.mkdir(parents=True, exist_ok=True)
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    experiment_id = registry.ensure_experiment(cfg.experiment_name, project.artifact_location)
    lineage: dict[str, object] = {
        "dataset_hash": version.content_hash,
        "schema_hash": version.schema_hash,
        "config_hash": cfg.config_hash(),
        "source_uri": version.source_uri,
        "snapshot_uri": version.snapshot_uri,
        "packages": json.dumps(environment(), sort_keys=True),
        **code_revision(project.root),
        **dict(lineage_extra or {}),
    }
    with registry.start_run(
        experiment_id, name=f"{cfg.name}-run", tags=layout.tags(lineage)
    ) as run:
        # Every URI is logged with its password masked; the run needs none of them later.
        run.log_params(_flatten("", redact_config(cfg.model_dump(mode="json")), {}))
        run.log_dict(to_dict(version), layout.DATASET_VERSION.path)
        run.log_dict(to_dict(report), layout.VALIDATION_JSON.path)
        run.log_text(
            render_validation_html(
                report, dataset.frame, dataset.schema, title=f"{cfg.name}: data", version=version
            ),
            layout.VALIDATION_HTML.path,
        )
        run.log_file(project.schema_path, directory=_folder(layout.SCHEMA.path))
        run.log_dict(_split_doc(parts, cfg), layout.SPLIT.path)
        if publishes_snapshots(project):
            # Another machine reproduces this version from the server's copy.
            lineage["snapshot_run"] = publish_snapshot(registry, run, experiment_id, store, version)
            run.set_tags(layout.tags({"snapshot_run": lineage["snapshot_run"]}))
        run.log_table(training_keys(parts, cfg), layout.TRAINING_KEYS.path)
        run.log_dict(environment(), layout.ENVIRONMENT.path)
        config_text = (project.root / CONFIG_FILENAME).read_text(encoding="utf-8")
        run.log_text(redact_yaml(config_text), layout.CONFIG_FILE.path)

        obs.stage_started("train")
        training_started_at = datetime.now(UTC)

        def on_trial(record: TrialRecord) -> None:
            trial = registry.start_run(experiment_id, name=f"trial-{record.number}", parent=run)
            trial.log_params({"family": record.family, **record.params})
            error = record.error[:5000] if record.error else None
            trial.set_tags(layout.tags({"trial_state": record.state, "error": error}))
            metrics = {
                "best_iteration": float(record.best_iteration),
                "duration_seconds": record.duration_seconds,
            }
            if record.value is not None:
                metrics[f"valid_{cfg.metric}"] = record.value
            trial.log_metrics(metrics)
            trial.finish(_RUN_STATUS[record.state])
            obs.trial_finished(record)

        model = train_model(cfg, dataset.frame, parts, on_trial=on_trial, front=front)
        run.log_params(
            {
                "best.family": model.family,
                **{f"best.{k}": v for k, v in model.params.items()},
                "search.executor": model.executor,
                "search.n_workers": model.n_workers,
                "best.calibration": model.calibration or "none",
                "best.threshold": model.threshold,
            }
        )
        run.log_dict(
            {"family": model.family, "search_params": model.search_params},
            layout.BEST_TRIAL.path,
        )
        run.log_dict(to_dict(model), layout.SEARCH_MODEL.path)
        run.log_metrics(
            {
                f"valid_{cfg.metric}": model.valid_score,
                "n_trials": model.n_trials,
                "n_failed_trials": model.n_failed,
                "n_pruned_trials": model.n_pruned,
                # The search alone, and the whole training (search + the winner's final fit).
                "search_seconds": model.search_seconds,
                "training_seconds": model.total_seconds,
                **{f"leaderboard.{k}": v for k, v in model.leaderboard.items()},
            }
        )
        board = ", ".join(f"{k} {v:.4f}" for k, v in _ranked(model.leaderboard, cfg.metric))
        skipped = ", ".join(
            f"{n} {what}"
            for n, what in ((model.n_pruned, "pruned"), (model.n_failed, "failed"))
            if n
        )
        obs.stage_finished(
            "train",
            f"{model.n_trials} trials ({skipped or 'all complete'}) on {model.n_workers} "
            f"{model.executor} worker(s), best {model.family}: valid {cfg.metric} "
            f"{model.valid_score:.4f} (by family: {board})",
        )

        obs.stage_started("evaluate")
        evaluation, scores = evaluate(
            model,
            parts.test,
            target=cfg.data.target,
            task=cfg.task,
            metric=cfg.metric,
            seed=cfg.seed,
            config=cfg.evaluation,
        )
        _log_evaluation(run, evaluation, model, parts, scores, cfg)
        obs.stage_finished("evaluate", _evaluation_summary(evaluation))

        obs.stage_started("gate")
        blessing = gate(
            evaluation,
            scores,
            candidate_threshold=model.threshold,
            classes=model.classes,
            registry=registry,
            model_name=cfg.model_name,
            test=parts.test,
            task=cfg.task,
            target=cfg.data.target,
            config=cfg.gates,
            seed=cfg.seed,
            history=pd.concat([parts.train, parts.valid, parts.test]),
            test_keys=row_identity(parts.test, cfg.data),
        )
        run.log_dict(to_dict(blessing), layout.BLESSING.path)
        run.set_tags(layout.tags({"blessed": blessing.blessed}))
        obs.stage_finished(
            "gate",
            ("blessed: " if blessing.blessed else "not blessed: ") + "; ".join(blessing.reasons),
        )

        obs.stage_started("register")
        ref = _register(registry, run, project, model, parts, evaluation, blessing, lineage)
        # What monitoring will compare live traffic with.
        log_reference(
            run,
            build_for_model(
                model, parts, cfg, importance=evaluation.importance, metrics=evaluation.metrics
            ),
        )
        with AuditLog.for_project(project) as audit:
            governor = Governor(registry, audit, cfg.model_name, promotion=cfg.governance.promotion)
            ref = governor.after_gate(
                ref,
                blessing,
                details={
                    "run_id": run.run_id,
                    "dataset_hash": version.content_hash,
                    "training_started_at": training_started_at.isoformat(),
                    "training_finished_at": datetime.now(UTC).isoformat(),
                },
                rollout=rolls_out(project),
            )
            markdown, html = model_card(registry, audit, ref.name, ref.version)
        run.log_text(markdown, layout.MODEL_CARD_MD.path)
        run.log_text(html, layout.MODEL_CARD_HTML.path)
        obs.stage_finished("register", _register_summary(ref))
        run_id = run.run_id

    return PipelineResult(
        project=cfg.name,
        dataset=version,
        validation=report,
        model=model,
        evaluation=evaluation,
        blessing=blessing,
        version=ref,
        run_id=run_id,
        tracking_uri=project.tracking_uri,
        duration_seconds=time.perf_counter() - started,
    )


def rolls_out(project: Project) -> bool:
    """Whether a blessed version of this project goes through the autopilot's rollout
    (``automation.enabled`` with a strategy other than ``direct``) instead of straight to
    ``champion`` (when there is a champion to compare it with)."""
    automation = project.config.automation
    return automation.enabled and automation.rollout.strategy != "direct"


def split_dataset(dataset: Dataset, cfg: ProjectConfig) -> Split:
    """The project's split of a validated dataset: rows without a timestamp are an error
    when the schema's ``nulls`` check is ``error``, else left out with a warning."""
    missing: Literal["error", "exclude"] = (
        "error" if dataset.schema.checks.nulls == "error" else "exclude"
    )
    return split(
        dataset.frame,
        data=cfg.data,
        config=cfg.split,
        task=cfg.task,
        seed=cfg.seed,
        missing_timestamps=missing,
    )


def training_keys(parts: Split, cfg: ProjectConfig) -> pd.DataFrame:
    """The identities of the rows a model learned from (train and validation), logged so
    that a later gate can leave them out of a comparison with this model."""
    rows = pd.concat([parts.train, parts.valid])
    return pd.DataFrame({"key": row_identity(rows, cfg.data)})


def _split_doc(parts: Split, cfg: ProjectConfig) -> dict[str, object]:
    """The split's scheme and sizes, and with a timestamp the period each part covers."""
    doc = {"scheme": "stable", **parts.describe()}
    column = cfg.data.timestamp_column
    if column is not None:

        def span(frame: pd.DataFrame) -> list[str] | None:
            stamps = pd.to_datetime(frame[column], errors="coerce", utc=True).dropna()
            if stamps.empty:
                return None
            return [stamps.min().isoformat(), stamps.max().isoformat()]

        every = pd.concat([parts.train, parts.valid, parts.test])
        doc["period"] = span(every)
        doc["test_period"] = span(parts.test)
    return doc


def _register_summary(ref: ModelVersionRef) -> str:
    if CHAMPION in ref.aliases:
        return f"{ref.name} v{ref.version} -> @{CHAMPION}"
    if CHALLENGER in ref.aliases:
        return (
            f"{ref.name} v{ref.version} -> @{CHALLENGER}, approval pending: headway approve "
            f"{ref.name}/{ref.version} --by NAME --reason TEXT (or headway reject)"
        )
    return f"{ref.name} v{ref.version} (no alias; @{CHAMPION} unchanged)"


def _check_evaluation_columns(cfg: ProjectConfig, frame: pd.DataFrame) -> None:
    """Slice and sensitive columns must exist before anything is tracked."""
    from headway.evaluation.fairness import check_sensitive_columns
    from headway.evaluation.slices import slice_columns

    check_sensitive_columns(frame.columns, cfg.evaluation.sensitive_columns)
    slice_columns(frame, [], list(cfg.evaluation.slice_columns))
    for key, columns in (
        ("evaluation.invariant_columns", list(cfg.evaluation.invariant_columns)),
        ("evaluation.monotonic", list(cfg.evaluation.monotonic)),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            known = ", ".join(map(str, frame.columns))
            raise ConfigError(f"{key}: {missing} not in the data; columns are {known}")
    numeric = frame.select_dtypes("number").columns
    wrong = [c for c in cfg.evaluation.monotonic if c not in numeric]
    if wrong:
        raise ConfigError(f"evaluation.monotonic: {wrong} are not numeric columns")


def _folder(path: str) -> str | None:
    head, _, _ = path.rpartition("/")
    return head or None


def _log_evaluation(
    run: TrackedRun,
    evaluation: EvaluationReport,
    model: TrainedModel,
    parts: Split,
    scores: np.ndarray,
    cfg: ProjectConfig,
) -> None:
    """Test metrics, their intervals, the report and its figures, into ``run``."""
    metrics = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    for name, (low, high) in evaluation.intervals.items():
        if np.isfinite(low) and np.isfinite(high):
            metrics[f"test_{name}_low"], metrics[f"test_{name}_high"] = low, high
    if evaluation.calibration_error is not None:
        metrics["test_calibration_error"] = evaluation.calibration_error
    if evaluation.business_value is not None:
        metrics["test_value_per_1000"] = evaluation.business_value["per_1000"]
    for report in evaluation.fairness:
        column = report["column"]
        for gap in ("demographic_parity_difference", "equalized_odds_difference"):
            if report.get(gap) is None:
                continue
            metrics[f"fairness.{column}.{gap}"] = report[gap]
            interval = report.get(f"{gap}_interval")
            if interval is not None:  # the 95% bootstrap interval, as the gate reads it
                metrics[f"fairness.{column}.{gap}_low"] = interval[0]
                metrics[f"fairness.{column}.{gap}_high"] = interval[1]
    run.log_metrics(metrics)
    run.log_dict(to_dict(evaluation), layout.EVALUATION.path)
    figures = evaluation_figures(
        evaluation,
        parts.test[cfg.data.target].to_numpy(),
        scores,
        task=cfg.task,
        classes=model.classes,
        threshold=model.threshold,
        business_values={str(k): v for k, v in cfg.evaluation.business_values.items()},
    )
    for name, figure in figures.items():
        run.log_figure(figure, layout.figure(name))


def _evaluation_summary(evaluation: EvaluationReport) -> str:
    metric = evaluation.metric
    low, high = evaluation.intervals.get(metric, (float("nan"), float("nan")))
    parts = [
        f"test {metric} {evaluation.primary:.4f} (95% CI {low:.4f}-{high:.4f}), "
        f"n={evaluation.n_test:,}"
    ]
    flagged = evaluation.flagged_slices
    if flagged:
        worst = flagged[0]
        parts.append(
            f"{len(flagged)} slice(s) lag, e.g. {worst['column']}={worst['value']}: "
            f"{worst['reason']}"
        )
    if evaluation.business_value is not None:
        parts.append(f"value {evaluation.business_value['per_1000']:,.0f} per 1000 predictions")
    for report in evaluation.fairness:
        parts.append(
            f"{report['column']}: parity difference {report['demographic_parity_difference']:.3f}"
        )
    if evaluation.importance:
        top = ", ".join(list(evaluation.importance)[:3])
        parts.append(f"top features {top}")
    parts.extend(evaluation.notes)
    return "; ".join(parts)


def _register(
    registry: ModelRegistry,
    run: TrackedRun,
    project: Project,
    model: TrainedModel,
    parts: Split,
    evaluation: EvaluationReport,
    blessing: Blessing,
    lineage: dict[str, object],
) -> ModelVersionRef:
    cfg = project.config
    raw_sample = _naive_times(parts.train[list(model.feature_columns)].head(200))
    example = raw_sample.head(5)
    predictions = model.estimator.predict(feature_frame(raw_sample, model))
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; the raw training
        # dtypes are kept on purpose, so that a plain MLflow load accepts raw columns.
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(raw_sample, np.asarray(predictions))
    tags = layout.tags(
        {
            **lineage,
            "task": cfg.task,
            "family": model.family,
            "primary_metric": cfg.metric,
            "blessed": blessing.blessed,
            "gate_checks": {c["name"]: c["passed"] for c in blessing.checks},
            "threshold": model.threshold,
            "feature_columns": list(model.feature_columns),
            "categorical_columns": list(model.categorical_columns),
            "requires_headway": requires_headway(model.estimator),
            "top_features": list(evaluation.importance)[:10] or None,
            **{f"metric.{k}": round(v, 6) for k, v in evaluation.metrics.items()},
        }
    )
    ref = registry.log_and_register(
        run,
        model.estimator,
        name=cfg.model_name,
        signature=signature,
        input_example=_json_safe(example),
        tags=tags,
    )
    return ref


def _naive_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware columns as naive UTC: MLflow signatures know only naive datetimes."""
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not aware:
        return frame
    return frame.assign(**{c: frame[c].dt.tz_convert("UTC").dt.tz_localize(None) for c in aware})


def _json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)
