"""``monitoring``: how ``headway monitor`` tests windows of the prediction log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from headway.config._base import Section

__all__ = ["MonitoringConfig", "duration", "parse_duration", "parse_window"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_ROWS = re.compile(r"^\s*(\d+)\s*rows?\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``2h``, ``1d``, ``1w`` as a duration; ``None`` when ``text`` is not one."""
    match = _DURATION.match(text)
    if not match:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def duration(text: str, key: str) -> timedelta:
    """``text`` (``30s``, ``10m``, ``2h``, ``7d``) as a positive duration.

    Raises:
        ValueError: it is not one; the message names ``key`` and the accepted forms.
    """
    parsed = parse_duration(text)
    if parsed is None or parsed.total_seconds() <= 0:
        raise ValueError(f"{key}: {text!r} is not a duration above zero (30s, 10m, 2h, 7d, 1w)")
    return parsed


def parse_window(text: str) -> timedelta | int:
    """A window: a duration (``1h``) or a number of rows (``10000rows``).

    Raises:
        ValueError: neither, with the accepted forms.
    """
    duration = parse_duration(text)
    if duration is not None:
        if duration.total_seconds() <= 0:
            raise ValueError(f"window {text!r} must be longer than zero")
        return duration
    rows = _ROWS.match(text)
    if rows:
        if int(rows.group(1)) < 1:
            raise ValueError(f"window {text!r} must hold at least one row")
        return int(rows.group(1))
    raise ValueError(
        f"window {text!r} is neither a duration (30m, 1h, 1d, 1w) nor a row count (10000rows)"
    )


DriftMethod = Literal["psi", "jensen_shannon", "hellinger", "wasserstein", "ks", "chi_square"]


class MonitoringConfig(Section):
    """Drift tests, performance alarms and where alerts go."""

    window: str | None = Field(
        default=None,
        description="Default window of headway monitor: a duration (1h, 1d) or a row count "
        "(10000rows); null = one window from --since to now.",
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        description="A window with fewer rows is reported as too small, not tested.",
    )
    method: Literal["auto"] | DriftMethod = Field(
        default="auto",
        description="Drift test of every column; auto = KS or chi-square for windows of at "
        "most 1000 rows, Wasserstein or Jensen-Shannon above (see docs/concepts.md).",
    )
    column_methods: dict[str, DriftMethod] = Field(
        default_factory=dict, description="A drift test per column, over method."
    )
    thresholds: dict[DriftMethod, float] = Field(
        default_factory=dict,
        description="Distance thresholds per method (psi, jensen_shannon, hellinger, "
        "wasserstein); defaults 0.1 each.",
    )
    threshold_source: Literal["fixed", "reference"] = Field(
        default="fixed",
        description="fixed: the thresholds above; reference: learnt from chunks of the "
        "reference sample as large as the window.",
    )
    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Family-wise false-alarm rate of one window across its columns "
        "(Bonferroni): the chance that a window without drift flags any column.",
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Dataset drift when this share of the columns drifts.",
    )
    weight_by_importance: bool = Field(
        default=False,
        description="Weigh each column by the version's feature importance in the share.",
    )
    multivariate: bool = Field(
        default=True, description="Also run the PCA reconstruction-error check."
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Columns to break realised performance down by (beside "
        "evaluation.slice_columns and the categorical inputs).",
    )
    performance_margin: float = Field(
        default=0.02,
        ge=0,
        description="Alarm when the realised metric's interval lies this far (in the "
        "metric's units) on the worse side of the version's evaluated metric.",
    )
    min_labels: int = Field(
        default=100, ge=1, description="Labelled rows a window needs for a performance verdict."
    )
    sample_rows: int = Field(
        default=20_000,
        ge=500,
        description="Rows of the reference sample kept with each version.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="POST an Alertmanager-style payload here when a window alarms; "
        "HEADWAY_MONITOR_WEBHOOK_URL overrides it (use it for a URL with a token).",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value
