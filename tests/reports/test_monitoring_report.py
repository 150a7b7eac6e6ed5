"""The monitoring page: alarms, overlays of drifted columns, plots over time, the caveat of
label-free estimation, and data escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from headway.reports import render_monitoring_html

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _report(hour: int, *, drifted: bool, auc: float) -> dict[str, Any]:
    start = T0 + timedelta(hours=hour)
    column = {
        "column": "tenure<script>",
        "kind": "numeric",
        "method": "wasserstein",
        "statistic": 0.3 if drifted else 0.02,
        "threshold": 0.1,
        "p_value": None,
        "drifted": drifted,
        "direction": "down",
        "null_rate": 0.0,
        "reference_null_rate": 0.01,
        "histogram": {"bins": ["< 3", "3 to 9", ">= 9"], "reference": [0.3, 0.4, 0.3],
                      "current": [0.6, 0.3, 0.1] if drifted else [0.3, 0.4, 0.3]},
    }  # fmt: skip
    calm = dict(column, column="age", drifted=False, statistic=0.01)
    return {
        "model": {"name": "churn", "version": "3"},
        "window": {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
                   "rows": 1200},
        "status": "ok",
        "columns": [column, calm],
        "dataset_drift": {"drifted": False, "share": 0.5 if drifted else 0.0, "threshold": 0.5,
                          "columns": int(drifted), "of": 2, "weighted": False},
        "prediction_drift": None,
        "multivariate": None,
        "schema": {"missing": [], "unexpected": []},
        "performance": {
            "metric": "roc_auc",
            "evaluated": 0.8,
            "realised": {"metric": "roc_auc", "value": auc, "interval": [auc - 0.02, auc + 0.02],
                         "rows": 900, "dropped": auc < 0.75},
            "estimated": {"metric": "roc_auc", "value": 0.79, "interval": [0.77, 0.81],
                          "rows": 1200, "assumptions": ["the concept is unchanged"]},
            "slices": [],
        },
        "business_value": {},
        "attribution": None,
        "alarms": ["drift:tenure<script>", "performance"] if drifted else [],
        "notes": [],
    }  # fmt: skip


def test_page_shows_alarms_overlays_and_trends() -> None:
    history = [_report(h, drifted=False, auc=0.8) for h in range(3)]
    page = render_monitoring_html(_report(3, drifted=True, auc=0.7), history, title="churn")

    assert "2 alarms" in page
    assert "drift:tenure&lt;script&gt;" in page and "<script>" not in page
    # one overlay (the drifted column) and two plots over time
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3
    assert 'alt="reference and window distributions of tenure&lt;script&gt;"' in page
    assert "roc_auc 0.7000 (95% interval 0.6800 to 0.7200), 900 rows" in page
    assert "cannot see a pure concept shift" in page


def test_a_quiet_window_without_history_draws_the_closest_columns_only() -> None:
    page = render_monitoring_html(_report(0, drifted=False, auc=0.8), [], title="churn")
    assert "no alarm" in page
    # overlays of both columns (none drifted: the closest to their threshold), plus the
    # performance plot of the one window; no drift-over-time plot without history
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3
    assert 'alt="drift score over the windows"' not in page


def test_a_window_too_small_says_so() -> None:
    report = _report(0, drifted=False, auc=0.8)
    report.update(
        status="too_few_rows", notes=["40 predictions, fewer than monitoring.min_rows = 100"]
    )
    page = render_monitoring_html(report, [], title="churn")
    assert "too few rows" in page and "fewer than monitoring.min_rows" in page
    assert "Drift" not in page
