"""The sections of a model card about the version itself: summary, intended use, data,
training, approvals and lineage, with the title's badges.

Each ``*_section`` function reads the card (plain values, any of them missing or wrongly
typed) and returns the blocks to show; what is missing reads "not recorded".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from headway.reports import _format as fmt
from headway.reports._blocks import Block, Facts, Heading, Table, Text
from headway.reports._card_results import failures, not_recorded

_MAX_COLUMNS_LISTED = 40
_TASKS = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
    "forecast": "forecasting",
}


def _primary(card: Mapping[str, Any]) -> tuple[str | None, Any, Any]:
    """The primary metric's name, test value and interval (or validation score)."""
    evaluation, training = fmt.as_map(card.get("evaluation")), fmt.as_map(card.get("training"))
    metric = evaluation.get("metric") or training.get("metric")
    if not metric:
        return None, None, None
    metric = str(metric)
    value = fmt.as_map(evaluation.get("metrics")).get(metric)
    return metric, value, fmt.as_map(evaluation.get("intervals")).get(metric)


def _blessed(card: Mapping[str, Any]) -> bool | None:
    status = fmt.as_flag(fmt.as_map(card.get("status")).get("blessed"))
    if status is not None:
        return status
    return fmt.as_flag(fmt.as_map(card.get("gates")).get("blessed"))


def _approval(card: Mapping[str, Any]) -> str:
    status = fmt.as_map(card.get("status"))
    approval = status.get("approval")
    if approval:
        return str(approval)
    return "not requested" if status else fmt.NOT_RECORDED


def badges(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The title's badges as (tone, text): the gate, the approval, archived, the aliases."""
    blessed = _blessed(card)
    out = [
        (
            "info" if blessed is None else "ok" if blessed else "bad",
            "gate not recorded" if blessed is None else "blessed" if blessed else "not blessed",
        )
    ]
    approval = _approval(card)
    tone = {"approved": "ok", "rejected": "bad", "pending": "warn"}.get(approval, "info")
    out.append((tone, f"approval {approval}"))
    if fmt.as_flag(fmt.as_map(card.get("status")).get("archived")):
        out.append(("warn", "archived"))
    out += [("info", f"@{alias}") for alias in fmt.as_list(card.get("aliases"))]
    return out


def summary_section(card: Mapping[str, Any]) -> list[Block]:
    """Task, target, family, primary metric, gate, approval, aliases and the like."""
    evaluation, training = fmt.as_map(card.get("evaluation")), fmt.as_map(card.get("training"))
    gates, status = fmt.as_map(card.get("gates")), fmt.as_map(card.get("status"))
    task = card.get("task")
    metric, value, interval = _primary(card)
    if metric is None:
        primary = fmt.NOT_RECORDED
    elif value is not None:
        direction = evaluation.get("higher_is_better")
        primary = f"{metric} {fmt.metric(value)}"
        details = (
            [f"95% interval {fmt.interval(interval)}"] if fmt.interval(interval) != fmt.DASH else []
        )
        if evaluation.get("n_test") is not None:
            details.append(f"on {fmt.count(evaluation.get('n_test'))} test rows")
        if isinstance(direction, bool):
            details.append("higher is better" if direction else "lower is better")
        primary += f" ({'; '.join(details)})" if details else ""
    elif training.get("valid_score") is not None:
        primary = (
            f"{metric} {fmt.metric(training.get('valid_score'))} on validation (no test score)"
        )
    else:
        primary = f"{metric} ({fmt.NOT_RECORDED})"

    blessed = _blessed(card)
    if blessed is None:
        gate = fmt.NOT_RECORDED
    elif blessed:
        gate = "blessed: every gate passed"
    else:
        failed = failures(gates)
        gate = "not blessed" + (f": {failed[0]}" if failed else "")
    champion = gates.get("champion_version")
    if champion is not None and gates.get("champion_value") is not None:
        gate += f" (champion v{champion}: {fmt.metric(gates.get('champion_value'))})"

    approval = _approval(card)
    if status.get("approval_by"):
        approval += f" by {status['approval_by']}"
    if status.get("approval_at"):
        approval += f" at {status['approval_at']}"
    if status.get("approval_reason"):
        approval += f": {status['approval_reason']}"

    tags = fmt.as_map(card.get("tags"))
    rows = [
        ("Task", _TASKS.get(str(task), str(task)) if task else fmt.NOT_RECORDED),
        ("Target", fmt.as_text(card.get("target"))),
        ("Model family", fmt.as_text(training.get("family"))),
        ("Primary metric", primary),
        ("Gate", gate),
        ("Approval", approval),
        ("Aliases", ", ".join(str(a) for a in fmt.as_list(card.get("aliases"))) or "none"),
        ("Created", fmt.as_text(card.get("created_at"))),
    ]
    if fmt.as_flag(status.get("archived")):
        rows.append(("Archived", "yes"))
    value_per_1000 = fmt.as_map(evaluation.get("business_value")).get("per_1000")
    if value_per_1000 is not None:
        rows.append(
            ("Business value", f"{fmt.amount(value_per_1000)} per 1,000 predictions (test)")
        )
    if tags:
        rows.append(("Tags", "; ".join(f"{k}={v}" for k, v in sorted(tags.items(), key=str))))
    return [Facts(rows)]


def intended_use_section(card: Mapping[str, Any]) -> list[Block]:
    """The description the owner wrote: what the model is for."""
    description = fmt.as_text(card.get("description"), "")
    if not description.strip():
        return [Text("Not recorded: the intended use of this model has not been written.")]
    return [Text(str(description).strip())]


def data_section(card: Mapping[str, Any]) -> list[Block]:
    """The dataset version, its source, size, columns, period and split."""
    data = fmt.as_map(card.get("data"))
    if not data:
        return not_recorded()
    columns = [str(c) for c in fmt.as_list(data.get("columns"))]
    listed = ", ".join(columns[:_MAX_COLUMNS_LISTED])
    if len(columns) > _MAX_COLUMNS_LISTED:
        listed += f" and {len(columns) - _MAX_COLUMNS_LISTED:,} more"
    period = fmt.as_list(data.get("period"))
    rows = [
        ("Dataset version", fmt.short(data.get("dataset_hash"))),
        ("Source", fmt.as_text(data.get("source_uri"))),
        ("Rows", fmt.count(data.get("n_rows"), fmt.NOT_RECORDED)),
        ("Columns", f"{len(columns):,}: {listed}" if columns else fmt.NOT_RECORDED),
        ("Schema", fmt.short(data.get("schema_hash"))),
        (
            "Period",
            f"{period[0]} to {period[1]}" if len(period) == 2 and all(period) else fmt.NOT_RECORDED,
        ),
    ]
    split = fmt.as_map(data.get("split"))
    strategy = split.get("strategy")
    explain = {
        "time": "by time: the test rows are the latest",
        "group": "by group: each entity is in one part only",
        "random_stratified": "random, stratified by class",
        "random": "random",
        "hash": "by a seeded hash of each row's id or content: a row keeps its part",
        "group_hash": "by a seeded hash of the group: each entity is in one part only",
    }
    rows.append(
        ("Split", explain.get(str(strategy), str(strategy)) if strategy else fmt.NOT_RECORDED)
    )
    blocks: list[Block] = [Facts(rows)]
    parts = [(name, fmt.as_number(split.get(name))) for name in ("train", "valid", "test")]
    total = sum(n for _, n in parts if n is not None)
    if any(n is not None for _, n in parts):
        table = [
            (
                name,
                fmt.count(n),
                f"{n / total:.0%}" if n is not None and total > 0 else fmt.DASH,
            )
            for name, n in parts
        ]
        blocks.append(Table(("part", "rows", "share"), table, numeric=frozenset({1, 2})))
    return blocks


def training_section(card: Mapping[str, Any]) -> list[Block]:
    """The search, its budget, the chosen hyper-parameters and the families tried."""
    training = fmt.as_map(card.get("training"))
    if not training:
        return not_recorded()
    metric = training.get("metric")
    n_trials = fmt.as_number(training.get("n_trials"))
    search = fmt.count(training.get("n_trials"), fmt.NOT_RECORDED)
    if n_trials is not None:
        search = fmt.plural(int(n_trials), "trial")
        extra = [
            f"{fmt.count(training.get(k))} {word}"
            for k, word in (("n_failed", "failed"), ("n_pruned", "pruned"))
            if fmt.as_number(training.get(k))
        ]
        search += f" ({', '.join(extra)})" if extra else ""
    budget = fmt.as_map(training.get("budget"))
    limits = []
    if budget.get("trials") is not None:
        limits.append(f"{fmt.count(budget.get('trials'))} trials")
    if budget.get("timeout_seconds") is not None:
        limits.append(f"{fmt.count(budget.get('timeout_seconds'))} seconds")
    rows = [
        ("Model family", fmt.as_text(training.get("family"))),
        (
            "Validation score",
            f"{metric} {fmt.metric(training.get('valid_score'), fmt.NOT_RECORDED)}"
            if metric
            else fmt.NOT_RECORDED,
        ),
        ("Search", search),
        ("Budget", " or ".join(limits) + ", whichever came first" if limits else fmt.NOT_RECORDED),
    ]
    if training.get("executor") is not None:
        workers = fmt.as_number(training.get("n_workers"))
        rows.append(
            (
                "Executor",
                f"{training['executor']}"
                + (f", {fmt.plural(int(workers), 'worker')}" if workers is not None else ""),
            )
        )
    if "threshold" in training:
        threshold = training.get("threshold")
        rows.append(("Decision threshold", "none" if threshold is None else fmt.metric(threshold)))
    if "calibration" in training:
        rows.append(("Calibration", fmt.as_text(training.get("calibration"), "none")))
    if training.get("search_params"):
        rows.append(("Search parameters", fmt.as_text(training.get("search_params"))))
    blocks: list[Block] = [Facts(rows)]
    params = fmt.as_map(training.get("params"))
    blocks.append(Heading("Hyper-parameters"))
    if params:
        table = [
            (str(k), fmt.param(v)) for k, v in sorted(params.items(), key=lambda kv: str(kv[0]))
        ]
        blocks.append(Table(("parameter", "value"), table))
    else:
        blocks.append(Text("Not recorded."))
    board = fmt.as_map(training.get("leaderboard"))
    if board:
        higher = fmt.as_map(card.get("evaluation")).get("higher_is_better")
        items = list(board.items())
        if isinstance(higher, bool):
            items.sort(key=lambda kv: _sort_score(kv[1], higher))
        chosen = training.get("family")
        ranking = [
            (str(f), fmt.metric(v), "chosen" if str(f) == str(chosen) else "") for f, v in items
        ]
        marks = ["ok" if row[2] else "" for row in ranking]
        blocks += [
            Heading("Model families tried (best validation score of each)"),
            Table(("family", f"{metric or 'score'}", ""), ranking, marks, frozenset({1})),
        ]
    return blocks


def _sort_score(value: Any, higher: bool) -> float:
    number = fmt.as_number(value)
    if number is None or math.isnan(number):
        return math.inf
    return -number if higher else number


def approvals_section(card: Mapping[str, Any]) -> list[Block]:
    """The approval state and the audit log's decisions, oldest first."""
    status = fmt.as_map(card.get("status"))
    rows = [("Approval", _approval(card))]
    for key, label in (("approval_by", "By"), ("approval_at", "At"), ("approval_reason", "Why")):
        if status.get(key):
            rows.append((label, str(status[key])))
    blocks: list[Block] = [Facts(rows)]
    events = [fmt.as_map(e) for e in fmt.as_list(card.get("approvals"))]
    if not events:
        blocks.append(Text("Decisions: not recorded."))
        return blocks
    marks = {"approved": "ok", "rejected": "bad", "not_blessed": "bad", "forced": "warn"}
    table = [
        (
            fmt.as_text(e.get("at"), fmt.DASH),
            fmt.as_text(e.get("action"), fmt.DASH),
            fmt.as_text(e.get("actor"), fmt.DASH),
            fmt.as_text(e.get("version"), fmt.DASH),
            fmt.as_text(e.get("reason"), ""),
        )
        for e in events
    ]
    header = ("when", "decision", "by", "version", "reason")
    blocks.append(Table(header, table, [marks.get(str(e.get("action")), "") for e in events]))
    return blocks


def _packages(value: Any) -> Mapping[str, Any] | str | None:
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError:
            return value
        return loaded if isinstance(loaded, Mapping) else value
    return value if isinstance(value, Mapping) and value else None


def _loading(requires: Any) -> str:
    flag = fmt.as_flag(requires)
    if flag is None:
        return fmt.NOT_RECORDED
    if flag:
        return (
            "needs headway installed (pip install headway) besides MLflow: the model "
            "contains a headway class (a forecasting step or a label encoder)"
        )
    return "plain MLflow with the packages in the model's requirements; headway not needed"


def lineage_section(card: Mapping[str, Any]) -> list[Block]:
    """Run, hashes, commit and package versions: where every input came from."""
    lineage, data = fmt.as_map(card.get("lineage")), fmt.as_map(card.get("data"))
    if not lineage and not data:
        return not_recorded()
    commit = fmt.as_text(lineage.get("git_commit"))
    dirty = fmt.as_flag(lineage.get("git_dirty"))
    if commit != fmt.NOT_RECORDED and dirty:
        commit += " (with uncommitted changes: the code is not exactly this commit)"
    rows = [
        ("MLflow run", fmt.as_text(lineage.get("run_id"))),
        ("Model URI", fmt.as_text(lineage.get("model_uri"))),
        ("Dataset hash", fmt.as_text(lineage.get("dataset_hash") or data.get("dataset_hash"))),
        ("Schema hash", fmt.as_text(lineage.get("schema_hash") or data.get("schema_hash"))),
        ("Config hash", fmt.as_text(lineage.get("config_hash"))),
        ("Git commit", commit),
        ("Loading", _loading(lineage.get("requires_headway"))),
    ]
    blocks: list[Block] = [Facts(rows), Heading("Packages")]
    packages = _packages(lineage.get("packages"))
    if isinstance(packages, Mapping):
        table = [(str(k), fmt.as_text(v, fmt.DASH)) for k, v in sorted(packages.items(), key=str)]
        blocks.append(Table(("package", "version"), table))
    elif isinstance(packages, str) and packages.strip():
        blocks.append(Text(packages))
    else:
        blocks.append(Text("Not recorded."))
    return blocks
