"""The alerting rules in deploy/prometheus and the Grafana dashboard in deploy/grafana.

promtool (Debian package ``prometheus``; ``.ci/run`` installs it) checks the rules and runs
their unit tests; those tests are skipped, with the reason, where it is not installed. The
rest always runs: the dashboard's shape, and that the rules and the dashboard only query
metrics the server exposes, so that renaming a metric breaks a test here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from headway.serving.metrics import ServingMetrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "headway-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "headway-rules-test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "headway-dashboard.json"

# The gauges the server publishes from the latest window `headway monitor` stored.
MONITORING_GAUGES = frozenset(
    {
        "headway_drift_detected",
        "headway_drift_score",
        "headway_dataset_drift",
        "headway_prediction_drift",
        "headway_performance",
        "headway_performance_low",
        "headway_performance_high",
        "headway_performance_evaluated",
        "headway_performance_dropped",
        "headway_monitor_last_window_end_timestamp_seconds",
        "headway_monitor_window_rows",
    }
)

# The alerts of the monitor's webhook (headway/monitoring/alerts.py): the rules raise the same
# alerts from the gauges, under the same names and severities.
WEBHOOK_ALERTS = {
    "HeadwayDrift": "warning",
    "HeadwayDatasetDrift": "warning",
    "HeadwayPredictionDrift": "warning",
    "HeadwayPerformanceDrop": "critical",
    "HeadwayEstimatedPerformanceDrop": "warning",
}

# The sample names /metrics shows for a metric of each type.
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
}
_METRIC_NAME = re.compile(r"\bheadway_[a-z0-9_]+")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed: apt-get install prometheus"
)


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _served_metric_names() -> set[str]:
    """The names of the samples of every metric of :class:`ServingMetrics`, as /metrics
    shows them (the client library keeps a counter's name without ``_total``)."""
    return {
        family.name + suffix
        for family in ServingMetrics.create().registry.collect()
        for suffix in _SUFFIXES[family.type]
    }


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows included (a collapsed row holds its panels)."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    targets = [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]
    variables = [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return targets + variables


# ------------------------------------------------------------------------------ promtool


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", RULES)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = _promtool("test", "rules", RULE_TESTS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_rejects_a_rule_that_does_not_parse(tmp_path: Path) -> None:
    text = RULES.read_text()
    broken = text.replace(
        "sum by (version) (rate(headway_shadow_errors_total[5m])) > 0",
        "sum by (version) (rate(headway_shadow_errors_total[5m]) > 0",
    )
    assert broken != text
    (tmp_path / "headway-rules.yml").write_text(broken)

    result = _promtool("check", "rules", tmp_path / "headway-rules.yml")

    assert result.returncode != 0
    assert "HeadwayShadowErrors" in result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_fail_when_a_threshold_changes(tmp_path: Path) -> None:
    # The 3% error rate of the firing case no longer fires above 5%: the tests notice.
    text = RULES.read_text()
    changed = text.replace("[5m])) > 0.01", "[5m])) > 0.05")
    assert changed != text
    (tmp_path / "headway-rules.yml").write_text(changed)
    (tmp_path / "tests").mkdir()
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)

    result = _promtool("test", "rules", tmp_path / "tests" / RULE_TESTS.name)

    assert result.returncode != 0
    assert "HeadwayErrorRate" in result.stdout + result.stderr


# ------------------------------------------------------------------------------- the rules


def test_every_alert_has_a_severity_a_summary_and_a_description() -> None:
    incomplete = [
        rule["alert"]
        for rule in _rules()
        if rule.get("labels", {}).get("severity") not in ("warning", "critical")
        or not rule.get("annotations", {}).get("summary")
        or not rule.get("annotations", {}).get("description")
    ]

    assert incomplete == []


def test_the_rules_raise_the_webhook_alerts_with_its_severities() -> None:
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in _rules()}

    assert {name: severities.get(name) for name in WEBHOOK_ALERTS} == WEBHOOK_ALERTS


def test_every_alert_has_a_case_that_fires_and_one_that_must_not() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    alerts = {rule["alert"] for rule in _rules()}

    assert sorted(alerts - fires) == []
    assert sorted(alerts - silent) == []


# ------------------------------------------------------------------- metrics they query


def test_served_metric_names_are_the_exposed_ones() -> None:
    names = _served_metric_names()

    assert "headway_requests_total" in names
    assert "headway_requests" not in names
    assert "headway_request_latency_seconds_bucket" in names
    assert "headway_model_info" in names


def test_the_rules_query_only_metrics_the_server_exposes() -> None:
    used = {name for rule in _rules() for name in _METRIC_NAME.findall(rule["expr"])}

    assert len(used) >= 10
    assert sorted(used - _served_metric_names() - MONITORING_GAUGES) == []


def test_the_dashboard_queries_only_metrics_the_server_exposes() -> None:
    queries = _dashboard_queries(_dashboard())
    used = {name for query in queries for name in _METRIC_NAME.findall(query)}

    assert len(used) >= 10
    assert sorted(used - _served_metric_names() - MONITORING_GAUGES) == []


# ----------------------------------------------------------------------- the dashboard


def test_every_dashboard_panel_has_a_datasource_and_a_query() -> None:
    dashboard = _dashboard()
    panels = [p for p in _panels(dashboard["panels"]) if p["type"] != "row"]
    incomplete = [
        p["title"]
        for p in panels
        if p.get("datasource", {}).get("uid") != "${datasource}"
        or not p.get("targets")
        or not all(t.get("expr") for t in p["targets"])
        or any(t.get("datasource", {}).get("uid") != "${datasource}" for t in p["targets"])
    ]

    assert len(panels) >= 11
    assert incomplete == []
    assert len({p["id"] for p in _panels(dashboard["panels"])}) == len(
        list(_panels(dashboard["panels"]))
    )


def test_the_dashboard_chooses_its_datasource_and_model() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}

    assert dashboard["schemaVersion"] == 39
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model"]["query"] == "label_values(headway_model_info, model)"
