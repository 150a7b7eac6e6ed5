"""The stored monitoring windows: save, replace the same window, read newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headway.controlplane import MonitoringStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _report(version: str, start: datetime, *, alarms: list[str], drift: bool = False) -> dict:
    return {
        "model": {"name": "churn", "version": version},
        "window": {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "rows": 500,
        },
        "status": "ok",
        "dataset_drift": {"drifted": drift},
        "alarms": alarms,
        "columns": [{"column": "age", "statistic": 0.2}],
    }


def test_windows_are_stored_replaced_and_read_newest_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'control.db'}"
    with MonitoringStore(url) as store:
        store.save(_report("1", T0, alarms=[]))
        store.save(_report("1", T0 + timedelta(hours=1), alarms=["drift:age"], drift=True))
        store.save(_report("1", T0, alarms=["performance"]))  # the same window, again
        store.save(_report("2", T0, alarms=[]))
        found = store.windows("churn")
        latest = store.latest("churn")
        later = store.windows("churn", since=T0 + timedelta(hours=1, minutes=30))
    assert [(w.version, w.window_start, w.alarms) for w in found] == [
        ("1", T0 + timedelta(hours=1), ["drift:age"]),
        ("2", T0, []),
        ("1", T0, ["performance"]),
    ]
    assert latest is not None and latest.dataset_drift is True
    assert latest.report["columns"] == [{"column": "age", "statistic": 0.2}]
    assert latest.window_end == T0 + timedelta(hours=2)
    assert [w.window_start for w in later] == [T0 + timedelta(hours=1)]
    with MonitoringStore(url) as store:
        assert store.latest("other") is None


def test_a_report_without_model_or_zone_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'control.db'}"
    with MonitoringStore(url) as store:
        with pytest.raises(ValueError, match=r"model\.name"):
            store.save({"window": {"start": T0.isoformat(), "end": T0.isoformat(), "rows": 1}})
        naive = _report("1", T0, alarms=[])
        naive["window"]["start"] = "2026-11-01T00:00:00"
        with pytest.raises(ValueError, match=r"window\.start .* has no time zone"):
            store.save(naive)
        assert store.windows("churn") == []
