"""``headway init --example churn-features``: an entity table, two feature views, a
service; ``headway run`` trains on the point-in-time training set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from headway.data import DatasetStore
from headway.features.definitions import load_definitions
from headway.pipeline.run import run_pipeline
from headway.project import Project
from headway.registry import ModelRegistry, layout
from tests.helpers import TINY_TRAINING, run_cli


def test_the_example_trains_on_its_feature_service(tmp_path: Path) -> None:
    root = tmp_path / "cf"
    out = run_cli("init", str(root), "--example", "churn-features", "--rows", "600")
    assert out.returncode == 0, out.stderr
    definitions = load_definitions(root / "features.yaml")
    assert [v.name for v in definitions.feature_views] == ["customer_profile", "customer_usage"]
    assert definitions.view("customer_usage").ttl == "30d"
    config = yaml.safe_load((root / "headway.yaml").read_text())
    config["training"] = TINY_TRAINING
    config.setdefault("evaluation", {})["explain"] = False
    (root / "headway.yaml").write_text(yaml.safe_dump(config))

    project = Project.load(root)
    result = run_pipeline(project)
    assert result.dataset.source_uri.startswith("features://churn_model?")
    trained = DatasetStore(project.datasets_dir).load_frame(result.dataset)
    profile = pd.read_parquet(root / "data" / "customer_profile.parquet")
    first = profile.drop_duplicates("customer_id", keep="first").set_index("customer_id")
    # The later price change of one customer in ten never reaches the earlier event's row.
    joined = trained.set_index("customer_id")["monthly_charges"]
    assert (joined == first.loc[joined.index, "monthly_charges"]).all()
    assert len(profile) > len(first)
    tags = (
        ModelRegistry(project.tracking_uri)
        .get_version("churn-features", result.version.version)
        .tags
    )
    assert tags[layout.FEATURE_SERVICE.name] == "churn_model"
