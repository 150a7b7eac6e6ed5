"""Micro-batching and the prediction log, through the scorer the server uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from headway import PipelineResult, Project
from headway.exceptions import PredictionLogError
from headway.predictions import open_prediction_log
from headway.serving.metrics import ServingMetrics
from headway.serving.model import ServedModel
from headway.serving.protocol import parse
from headway.serving.scoring import Scorer

Trained = tuple[Project, PipelineResult]


@pytest.fixture(scope="module")
def table(trained: Trained) -> pd.DataFrame:
    project, _ = trained
    assert project.data_path is not None
    return pd.read_csv(project.data_path).dropna().head(40).drop(columns=["churned"])


def _body(row: pd.Series) -> bytes:
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    return orjson.dumps(
        {"dataframe_split": {"columns": list(plain), "data": [list(plain.values())]}}
    )


def _batch_count(metrics: ServingMetrics) -> tuple[float, float]:
    count = metrics.registry.get_sample_value("headway_batch_rows_count") or 0.0
    total = metrics.registry.get_sample_value("headway_batch_rows_sum") or 0.0
    return count, total


async def _all(scorer: Scorer, bodies: list[bytes]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(scorer.predict(parse(b, None)) for b in bodies)))


def test_concurrent_requests_are_scored_in_one_batch_and_all_logged(
    served: ServedModel, table: pd.DataFrame, tmp_path: Path
) -> None:
    log = open_prediction_log(None, tmp_path / "log")
    metrics = ServingMetrics.create()
    scorer = Scorer(served, metrics, log=log)
    bodies = [_body(row) for _, row in table.iterrows()]
    answers = asyncio.run(_all(scorer, bodies))
    log.close()

    assert _batch_count(metrics) == (1.0, float(len(table)))  # one call for all 40 rows
    expected = served.estimator.predict_proba(served.prepare(table)[0])[:, 1]
    got = np.array([a["probabilities"][0] for a in answers])
    np.testing.assert_allclose(got, expected.round(6), rtol=0, atol=1e-12)
    ids = [a["prediction_ids"][0] for a in answers]
    assert len(set(ids)) == len(ids)

    with open_prediction_log(None, tmp_path / "log") as reopened:
        logged = reopened.get(ids).set_index("prediction_id").loc[ids]
    assert list(logged["route"].unique()) == ["champion"]
    assert list(logged["model_version"].unique()) == [served.version]
    assert [o["probability"] for o in logged["outputs"]] == [a["probabilities"][0] for a in answers]
    first = logged.iloc[0]["inputs"]
    assert first == {c: _plain(table.iloc[0][c]) for c in served.types.columns}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def test_batching_off_scores_each_request_alone_with_the_same_answers(
    served: ServedModel, table: pd.DataFrame
) -> None:
    bodies = [_body(row) for _, row in table.head(8).iterrows()]
    batched = asyncio.run(_all(Scorer(served, ServingMetrics.create()), bodies))
    metrics = ServingMetrics.create()
    alone = asyncio.run(_all(Scorer(served, metrics, batching=False), bodies))
    assert _batch_count(metrics) == (8.0, 8.0)
    strip = [{k: v for k, v in a.items() if k != "prediction_ids"} for a in batched]
    assert strip == [{k: v for k, v in a.items() if k != "prediction_ids"} for a in alone]


def test_a_request_with_a_warning_takes_the_full_path_and_is_logged(
    served: ServedModel, table: pd.DataFrame, tmp_path: Path
) -> None:
    row = table.iloc[0].copy()
    number = served.types.numeric[0]
    row[number] = 1e9  # outside the training range: a warning, not an error
    log = open_prediction_log(None, tmp_path / "log")
    metrics = ServingMetrics.create()
    scorer = Scorer(served, metrics, log=log)
    answer = asyncio.run(_all(scorer, [_body(row)]))[0]
    log.close()
    assert answer["warnings"] == [{"column": number, "check": "ranges", "rows": [0]}]
    assert _batch_count(metrics) == (0.0, 0.0)  # not batched: the full path
    with open_prediction_log(None, tmp_path / "log") as reopened:
        logged = reopened.get(answer["prediction_ids"])
    assert logged.iloc[0]["inputs"][number] == 1e9


def test_a_log_that_cannot_be_written_fails_the_request(
    served: ServedModel, table: pd.DataFrame, tmp_path: Path
) -> None:
    root = tmp_path / "log"
    log = open_prediction_log(None, root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "segments").write_text("a file where the log's segment folder goes")
    scorer = Scorer(served, ServingMetrics.create(), log=log)
    with pytest.raises(PredictionLogError, match="cannot be written"):
        asyncio.run(_all(scorer, [_body(table.iloc[0])]))
