"""``headway run`` from an entity table and a feature service: the point-in-time training
set is what the model learns from, with no value from after a row's timestamp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from headway.data import DatasetStore
from headway.datasets.churn import make_churn
from headway.exceptions import ConfigError
from headway.pipeline.features import build_training_set
from headway.pipeline.run import run_pipeline
from headway.project import Project
from headway.registry import ModelRegistry, layout
from tests.helpers import PROFILE, USAGE, make_feature_project


def test_training_set_takes_no_value_from_the_future(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    built = build_training_set(project)
    frame = built.frame
    assert len(frame) == 800
    assert "FUTURE" not in set(frame["plan"]) and (frame["monthly_charges"] >= 0).all()
    source = make_churn(800, seed=3)
    assert frame["plan"].tolist() == source["plan"].tolist()
    assert frame["num_products"].tolist() == source["num_products"].astype(float).tolist()
    assert built.source_uri.startswith("features://churn_model?definitions=")
    assert json.loads(built.lineage["feature_sources"]).keys() == {"profile", "usage"}


def test_a_run_trains_on_the_point_in_time_training_set(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    result = run_pipeline(project)
    assert result.dataset.source_uri.startswith("features://churn_model?")
    assert result.dataset.n_rows == 800
    assert {*PROFILE, *USAGE} <= set(result.dataset.columns)
    stored = DatasetStore(project.datasets_dir).load_frame(result.dataset)
    assert "FUTURE" not in set(stored["plan"].astype(str))
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    tags = registry.get_version("churn", result.version.version).tags
    assert tags[layout.FEATURE_SERVICE.name] == "churn_model"
    assert len(tags[layout.FEATURE_DEFINITIONS_HASH.name]) == 16
    assert set(json.loads(tags[layout.FEATURE_SOURCES.name])) == {"profile", "usage"}


def test_an_unknown_service_is_a_config_error(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    path = project.root / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    config["features"]["service"] = "nope"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"features\.service: no feature service 'nope'"):
        run_pipeline(Project.load(project.root))
    assert not (project.root / ".headway" / "mlflow.db").exists()
