"""The monitoring issue's acceptance, end to end on the churn example: traffic replayed
through the real server (``headway simulate``'s library), then ``headway monitor``.

- an injected covariate shift is flagged on exactly the shifted columns, and the
  label-free estimate moves before any label arrives;
- an injected concept shift leaves the inputs alone; once labels arrive the realised
  performance drop is flagged, and the page says label-free estimation cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from headway import Project, run_pipeline
from headway.datasets import make_stream
from headway.monitoring.simulator import PredictionClient, simulate
from headway.pipeline.monitor import monitor_project
from tests.helpers import make_project, serving

# What the churn generator moves under covariate drift; total_charges follows two of them.
SHIFTED = {"contract", "tenure_months", "monthly_charges", "support_tickets_90d",
           "days_since_last_login"}  # fmt: skip
MAY_FOLLOW = {"total_charges"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = make_project(tmp_path_factory.mktemp("e2e") / "churn", rows=6000)
    loaded = Project.load(root)
    run_pipeline(loaded)
    return loaded


ROWS = 3000


def _replay(url: str, drift: str | None, *, labels: bool, seed: int) -> Replay:
    stream = make_stream("churn", ROWS, drift=drift, at=0 if drift else None, seed=seed)
    start = datetime.now(UTC)
    result = simulate(
        url, stream, target="churned", batch_rows=20, label_delay=0 if labels else None
    )
    assert result.rows_answered == ROWS and not result.failures
    assert result.labels_accepted == (ROWS if labels else 0)
    labelled = list(zip(result.prediction_ids, stream["churned"].tolist(), strict=True))
    return Replay(start, datetime.now(UTC), labelled)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Replay:
    start: datetime
    end: datetime
    labels: list[tuple[str, int]]


def _send_labels(url: str, replay: Replay) -> None:
    with PredictionClient(url) as client:
        reply = client.send_labels(replay.labels)
    assert reply.doc is not None and reply.doc["accepted"] == ROWS


def _window(project: Project, replay: Replay) -> tuple[Any, Path]:
    run = monitor_project(project, since=replay.start, until=replay.end)
    return run.windows[0], run.pages[0]


def test_covariate_then_concept_shift_through_the_server(project: Project) -> None:
    with serving(project.root) as url:
        calm = _replay(url, None, labels=False, seed=1)
        covariate = _replay(url, "covariate", labels=False, seed=2)
        concept = _replay(url, "concept", labels=True, seed=3)

        quiet, _ = _window(project, calm)
        shifted, _ = _window(project, covariate)
        # The labels of the first two windows arrive only now.
        _send_labels(url, calm)
        _send_labels(url, covariate)
    quiet_later, _ = _window(project, calm)
    shifted_later, _ = _window(project, covariate)
    changed, page = _window(project, concept)

    assert (quiet.rows, quiet.drifted_columns) == (ROWS, [])
    assert SHIFTED <= set(shifted.drifted_columns) <= SHIFTED | MAY_FOLLOW
    # Before any label, the estimate moved; the labels show it moved the right way, and
    # that it had the realised value within its interval.
    assert quiet.performance["realised"]["rows"] == shifted.performance["realised"]["rows"] == 0
    before, after = quiet.performance["estimated"], shifted.performance["estimated"]
    realised_before = quiet_later.performance["realised"]["value"]
    realised_after = shifted_later.performance["realised"]["value"]
    assert abs(after["value"] - before["value"]) > 0.01
    assert (after["value"] - before["value"]) * (realised_after - realised_before) > 0
    for estimate, realised in ((before, realised_before), (after, realised_after)):
        assert estimate["interval"][0] - 0.01 <= realised <= estimate["interval"][1] + 0.01

    assert changed.drifted_columns == []
    assert changed.performance["realised"]["rows"] == ROWS
    assert changed.performance["realised"]["dropped"] is True
    assert "performance" in changed.alarms
    assert "cannot see a pure concept shift" in page.read_text()
