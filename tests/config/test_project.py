from __future__ import annotations

from pathlib import Path

import pytest

from headway import ConfigError, Project, ProjectNotFoundError, load_config
from headway.settings import Settings

VALID = """\
name: demo
task: binary
data:
  source: {path: data/x.csv}
  target: y
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "headway.yaml"
    path.write_text(text)
    return path


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.data.source.type == "csv"  # inferred from the extension
    assert config.metric == "roc_auc"
    assert config.training.budget.trials == 20
    assert config.split.test_fraction == 0.2
    assert config.model_name == "demo"
    assert config.serving.host == "127.0.0.1"


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, VALID + "trainig: {}\n"))
    message = str(info.value)
    assert "unknown key 'trainig'" in message
    assert "Did you mean 'training'" in message


def test_nested_unknown_key(tmp_path: Path) -> None:
    text = VALID.replace("  target: y", "  target: y\n  timestamp: t")
    with pytest.raises(ConfigError, match=r"unknown key 'data.timestamp'.*data.timestamp_column"):
        load_config(write(tmp_path, text))


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    text = VALID + "training:\n  budget:\n    trials: many\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "training.budget.trials" in str(info.value)
    assert "'many'" in str(info.value)


def test_missing_required_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"required key 'data\.target' is missing"):
        load_config(write(tmp_path, VALID.replace("  target: y\n", "")))


def test_bad_task_and_unknown_metric(tmp_path: Path) -> None:
    text = VALID.replace("binary", "clustering") + "gates:\n  min_metrics: {auc: 0.7}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "key 'task'" in str(info.value)
    assert "unknown metric(s) ['auc']" in str(info.value)


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed\n"))


def test_uninferable_source_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot infer the format of 'data/x.txt'"):
        load_config(write(tmp_path, VALID.replace("x.csv", "x.txt")))


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match="project directory does not exist"):
        Project.load(tmp_path / "nope")
    with pytest.raises(ProjectNotFoundError, match="no such project file"):
        Project.load(tmp_path)


def test_tracking_uri_precedence(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    embedded = Project.load(tmp_path, settings=Settings())
    assert embedded.tracking_uri == f"sqlite:///{tmp_path.resolve() / '.headway' / 'mlflow.db'}"
    assert embedded.artifact_location == (tmp_path.resolve() / ".headway" / "artifacts").as_uri()
    write(tmp_path, VALID + "mlflow: {tracking_uri: 'http://mlflow.internal:5000'}\n")
    from_file = Project.load(tmp_path, settings=Settings())
    assert from_file.tracking_uri == "http://mlflow.internal:5000"
    assert from_file.artifact_location is None
    env = Project.load(tmp_path, settings=Settings(tracking_uri="http://other:5000"))
    assert env.tracking_uri == "http://other:5000"
    assert env.registry_uri == "http://other:5000"


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWAY_TRACKING_URI", "http://mlflow.internal:5000")
    from headway.settings import load_settings

    assert load_settings().tracking_uri == "http://mlflow.internal:5000"


def test_config_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, VALID))
    b = load_config(write(tmp_path, VALID + "seed: 7\n"))
    assert a.config_hash() == load_config(write(tmp_path, VALID)).config_hash()
    assert a.config_hash() != b.config_hash()


def test_metrics_must_fit_the_task_and_seed_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"training.metric: \['rmse'\] do not apply to task 'binary'"
    ):
        load_config(write(tmp_path, VALID + "training: {metric: rmse}\n"))
    with pytest.raises(ConfigError, match=r"gates.min_metrics: \['r2'\] do not apply"):
        load_config(write(tmp_path, VALID + "gates: {min_metrics: {r2: 0.5}}\n"))
    with pytest.raises(ConfigError, match="key 'seed'"):
        load_config(write(tmp_path, VALID + "seed: -1\n"))


def test_database_tracking_uri_keeps_artifacts_in_the_project(tmp_path: Path) -> None:
    write(tmp_path, VALID + "mlflow: {tracking_uri: 'sqlite:////srv/shared/mlflow.db'}\n")
    project = Project.load(tmp_path, settings=Settings())
    assert project.artifact_location == (tmp_path.resolve() / ".headway" / "artifacts").as_uri()
