"""Traffic between the champion and a candidate: canary, sticky A/B and shadow, as the
server routes them (ServingState), and a running server following the deployment record."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from headway import PipelineResult, Project, run_pipeline
from headway.predictions import open_prediction_log
from headway.registry import CHAMPION, ModelRegistry
from headway.serving import ServingSettings
from headway.serving.metrics import ServingMetrics
from headway.serving.model import ServedModel
from headway.serving.protocol import parse
from headway.serving.state import ServingState
from tests.helpers import make_project


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    """A project with versions 1 (the champion) and 2 registered, different models."""
    root = make_project(
        tmp_path_factory.mktemp("traffic") / "churn",
        rows=700,
        training={"budget": {"trials": 2, "timeout_seconds": 60}, "model_families": ["lightgbm"]},
        evaluation={"explain": False},
    )
    project = Project.load(root)
    run_pipeline(project)
    config = project.config.model_dump(mode="json")
    assert config["training"]["model_families"] == ["lightgbm"]
    (root / "headway.yaml").write_text(
        (root / "headway.yaml").read_text().replace("- lightgbm", "- linear")
    )
    second = run_pipeline(Project.load(root))
    assert second.version.version == "2"
    ModelRegistry(project.tracking_uri).set_alias("churn", CHAMPION, "1")
    return Project.load(root), second


@pytest.fixture(scope="module")
def models(two_versions: tuple[Project, PipelineResult]) -> tuple[ServedModel, ServedModel]:
    project, _ = two_versions
    registry = ModelRegistry(project.tracking_uri)
    return (
        ServedModel.load("models:/churn/1", registry),
        ServedModel.load("models:/churn/2", registry),
    )


@pytest.fixture(scope="module")
def table(two_versions: tuple[Project, PipelineResult]) -> pd.DataFrame:
    project, _ = two_versions
    assert project.data_path is not None
    return pd.read_csv(project.data_path).dropna().head(60).drop(columns=["churned"])


def _state(models: tuple[ServedModel, ServedModel], tmp_path: Path) -> ServingState:
    champion, _ = models
    settings = ServingSettings(model_uri="models:/churn/1", tracking_uri="unused")
    log = open_prediction_log(None, tmp_path / "log")
    return ServingState(settings, None, ServingMetrics.create(), champion, log=log)  # type: ignore[arg-type]


def _request(frame: pd.DataFrame) -> Any:
    rows = frame.astype(object).to_numpy().tolist()
    return parse(
        orjson.dumps({"dataframe_split": {"columns": list(frame.columns), "data": rows}}), None
    )


async def _predict(state: ServingState, frames: list[pd.DataFrame]) -> list[dict[str, Any]]:
    return [await state.predict(_request(f)) for f in frames]


def _alone(model: ServedModel, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(frame)["probabilities"])


def test_canary_sends_the_weighted_share_to_the_candidate(
    models: tuple[ServedModel, ServedModel], table: pd.DataFrame, tmp_path: Path
) -> None:
    state = _state(models, tmp_path)
    candidate = state._scorer(models[1], "canary")

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        state.apply("canary", candidate, 1.0, None, 1)
        first = await _predict(state, [table.head(3)])
        state.apply("canary", candidate, 0.3, None, 2)
        return first, await _predict(state, [table.head(1)] * 400)

    answers, many = asyncio.run(run())
    assert answers[0]["model"]["version"] == "2"
    assert answers[0]["routes"] == ["canary"] * 3
    np.testing.assert_allclose(answers[0]["probabilities"], _alone(models[1], table.head(3)))
    share = sum(a["model"]["version"] == "2" for a in many) / len(many)
    # Binomial(400, 0.3): 0.3 +- 4.5 standard deviations (0.023 each).
    assert 0.195 < share < 0.405


def test_ab_routes_each_entity_to_one_version_and_keeps_row_order(
    models: tuple[ServedModel, ServedModel], table: pd.DataFrame, tmp_path: Path
) -> None:
    state = _state(models, tmp_path)
    state.apply("ab", state._scorer(models[1], "canary"), 0.5, "customer_id", 1)
    expected_candidate = [
        zlib.crc32(str(v).encode()) < 0.5 * 2**32 for v in table["customer_id"].tolist()
    ]
    assert 0 < sum(expected_candidate) < len(table)  # a split request
    answer, first, second = asyncio.run(_predict(state, [table, table.iloc[[5]], table.iloc[[5]]]))
    assert answer["routes"] == ["canary" if c else "champion" for c in expected_candidate]
    assert answer["versions"] == ["2" if c else "1" for c in expected_candidate]
    champion_scores, candidate_scores = _alone(models[0], table), _alone(models[1], table)
    expected = np.where(expected_candidate, candidate_scores, champion_scores)
    np.testing.assert_allclose(answer["probabilities"], expected)
    assert len(set(answer["prediction_ids"])) == len(table)
    assert first["routes"] == second["routes"] == [answer["routes"][5]]


def test_shadow_answers_from_the_champion_and_logs_the_candidate(
    models: tuple[ServedModel, ServedModel], table: pd.DataFrame, tmp_path: Path
) -> None:
    state = _state(models, tmp_path)
    state.apply("shadow", state._scorer(models[1], "shadow"), 0.0, None, 1)

    async def run() -> dict[str, Any]:
        answer = await state.predict(_request(table.head(4)))
        await state.close()
        return answer

    answer = asyncio.run(run())
    assert answer["model"]["version"] == "1" and "routes" not in answer
    np.testing.assert_allclose(answer["probabilities"], _alone(models[0], table.head(4)))
    with open_prediction_log(None, tmp_path / "log") as log:
        logged = log.read()
    assert sorted(logged["route"].tolist()) == ["champion"] * 4 + ["shadow"] * 4
    shadow = logged[logged["route"] == "shadow"]
    assert set(shadow["model_version"]) == {"2"}
    assert not set(shadow["prediction_id"]) & set(answer["prediction_ids"])


def test_a_slow_champion_is_answered_by_the_fallback(
    two_versions: tuple[Project, PipelineResult],
    models: tuple[ServedModel, ServedModel],
    table: pd.DataFrame,
    tmp_path: Path,
) -> None:
    project, _ = two_versions
    client = ModelRegistry(project.tracking_uri).client
    client.set_model_version_tag("churn", "2", "headway.previous_champion", "1")
    registry = ModelRegistry(project.tracking_uri)
    settings = ServingSettings(
        model_uri="models:/churn/2", tracking_uri=project.tracking_uri, timeout_ms=0.001
    )
    state = ServingState(settings, registry, ServingMetrics.create(), models[1])

    async def run() -> dict[str, Any]:
        await state.check_fallback(asyncio.get_running_loop())
        return await state.predict(_request(table.head(2)))

    answer = asyncio.run(run())
    assert state.fallback is not None and state.fallback.model.version == "1"
    assert answer["model"]["version"] == "1"
    np.testing.assert_allclose(answer["probabilities"], _alone(models[0], table.head(2)))
    assert state.degraded == (
        "version 2 took longer than 0.001 ms; answered by the fallback, version 1"
    )
    took = state.metrics.registry.get_sample_value(
        "headway_fallbacks_total", {"version": "2", "reason": "took"}
    )
    assert took == 1.0


def test_without_a_fallback_a_slow_champion_fails_as_before(
    models: tuple[ServedModel, ServedModel], table: pd.DataFrame
) -> None:
    settings = ServingSettings(model_uri="models:/churn/1", tracking_uri="unused", timeout_ms=0.001)
    state = ServingState(settings, None, ServingMetrics.create(), models[0])  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        asyncio.run(state.predict(_request(table.head(1))))
    assert state.degraded is None
