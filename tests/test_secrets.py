"""A password written in a project's URIs never leaves the machine: no MLflow param, tag,
artifact, model card, audit record, log line or command output holds it."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient

from headway import Project, load_config, run_pipeline
from headway.controlplane import AuditLog
from headway.pipeline.reproduce import reproduce
from headway.redact import MASK, redact_config, redact_text, redact_uri, redact_yaml
from headway.settings import Settings
from tests.controlplane.conftest import PostgresServer, postgres_server
from tests.helpers import make_project, run_cli

__all__ = ["postgres_server"]  # the session fixture, shared with the control-plane tests

SECRET = "S3cr3t-Pa55"


# --- the helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://u:pw@db.internal:5432/optuna", "postgresql://u:***@db.internal:5432/optuna"),
        (
            "postgresql+psycopg://u:pw@/optuna?host=/tmp/s&port=5432",
            "postgresql+psycopg://u:***@/optuna?host=/tmp/s&port=5432",
        ),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://user:pw@mlflow.internal/", "https://user:***@mlflow.internal/"),
        # A password with '/', '?' or '@' in it, not percent-encoded.
        ("postgresql://u:p/w?x@db/optuna", "postgresql://u:***@db/optuna"),
        ("postgresql://u:p@w@db/optuna", "postgresql://u:***@db/optuna"),
        (
            "https://mlflow.internal/api?token=abc&experiment=1#top",
            "https://mlflow.internal/api?token=***&experiment=1#top",
        ),
        (
            "postgresql://u@db/x?sslpassword=k&Password=p&access_token=t&sslmode=require",
            "postgresql://u@db/x?sslpassword=***&Password=***&access_token=***&sslmode=require",
        ),
        ("sqlite:////p/.headway/mlflow.db", "sqlite:////p/.headway/mlflow.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("journal:/tmp/optuna.journal", "journal:/tmp/optuna.journal"),
        ("http://user@mlflow.internal:5000", "http://user@mlflow.internal:5000"),
        ("http://u:@host/", "http://u:@host/"),
        ("databricks://profile:prefix", "databricks://profile:prefix"),
        ("auto", "auto"),
        ("", ""),
    ],
)
def test_redact_uri_hides_passwords_and_tokens_only(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
    assert redact_uri(shown) == shown  # masking twice changes nothing


def test_redact_text_masks_every_uri_in_a_message() -> None:
    message = (
        f"cannot open 'postgresql://a:{SECRET}@h/db' nor http://b:{SECRET}@m:5000/x?token=t "
        "(see https://example.org/docs)"
    )
    shown = redact_text(message)
    assert SECRET not in shown and "token=t" not in shown
    assert "'postgresql://a:***@h/db'" in shown
    assert "http://b:***@m:5000/x?token=***" in shown
    assert "https://example.org/docs" in shown


def test_redact_config_masks_uri_keys_secret_keys_and_urls_anywhere() -> None:
    config = {
        "name": "churn",
        "seed": 42,
        "mlflow": {"tracking_uri": f"https://u:{SECRET}@m/", "registry_uri": None},
        "control_plane": {"url": f"postgresql://u:{SECRET}@db/hw"},
        "training": {"optuna_storage": f"mysql://u:{SECRET}@db/o", "budget": {"trials": 2}},
        "future": {"password": SECRET, "endpoints": [f"s3://k:{SECRET}@bucket/x"]},
        "description": f"scored from postgresql://reader:{SECRET}@warehouse/db nightly",
    }
    masked = redact_config(config)
    assert SECRET not in json.dumps(masked)
    assert masked["mlflow"] == {"tracking_uri": "https://u:***@m/", "registry_uri": None}
    assert masked["control_plane"]["url"] == "postgresql://u:***@db/hw"
    assert masked["training"] == {"optuna_storage": "mysql://u:***@db/o", "budget": {"trials": 2}}
    assert masked["future"] == {"password": MASK, "endpoints": ["s3://k:***@bucket/x"]}
    assert masked["seed"] == 42 and masked["name"] == "churn"
    assert config["control_plane"]["url"].endswith(f"{SECRET}@db/hw")  # the input is kept


def test_redact_yaml_keeps_comments_and_stays_a_valid_project_file(tmp_path: Path) -> None:
    text = (
        "# the churn model\n"
        "name: churn\n"
        "task: binary\n"
        "data:\n"
        "  source: {path: data/x.csv}\n"
        "  target: y\n"
        "training:\n"
        f'  optuna_storage: "postgresql://optuna:{SECRET}@db/optuna"  # shared study\n'
        "control_plane:\n"
        f"  url: postgresql+psycopg://hw:{SECRET}@db/hw?sslmode=require\n"
    )
    masked = redact_yaml(text)
    assert SECRET not in masked
    assert "# the churn model" in masked and "# shared study" in masked
    (tmp_path / "headway.yaml").write_text(masked)
    config = load_config(tmp_path / "headway.yaml")
    assert config.training.optuna_storage == "postgresql://optuna:***@db/optuna"
    assert config.control_plane.url == "postgresql+psycopg://hw:***@db/hw?sslmode=require"
    assert redact_yaml("name: churn  # no secret here\n") == "name: churn  # no secret here\n"


def test_redact_yaml_rewrites_the_file_when_masking_in_place_is_not_enough() -> None:
    text = f"name: churn\nfuture:\n  password: {SECRET}  # kept out\n"
    masked = redact_yaml(text)
    assert SECRET not in masked
    assert yaml.safe_load(masked) == {"name": "churn", "future": {"password": MASK}}


def test_config_hash_does_not_depend_on_a_password(tmp_path: Path) -> None:
    base = "name: demo\ntask: binary\ndata: {source: {path: x.csv}, target: y}\n"
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(base + "control_plane: {url: 'postgresql://u:first@db/hw'}\n")
    two.write_text(base + "control_plane: {url: 'postgresql://u:second@db/hw'}\n")
    assert load_config(one).config_hash() == load_config(two).config_hash()


def test_invalid_uri_value_is_reported_without_its_password(tmp_path: Path) -> None:
    from headway import ConfigError

    (tmp_path / "headway.yaml").write_text(
        "name: demo\ntask: binary\ndata: {source: {path: x.csv}, target: y}\n"
        f"training: {{executor: 'postgresql://u:{SECRET}@db/o'}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "headway.yaml")
    assert "training.executor" in str(info.value)
    assert SECRET not in str(info.value)


def test_optuna_storage_errors_do_not_show_the_password() -> None:
    from headway import TrainingError
    from headway.training.executors import WorkerJob, open_storage

    with pytest.raises(TrainingError) as info:
        open_storage(f"postgresql+nodriver://optuna:{SECRET}@db.internal/optuna")
    assert SECRET not in str(info.value)
    assert "postgresql+nodriver://optuna:***@db.internal/optuna" in str(info.value)
    job = WorkerJob("s", f"postgresql://optuna:{SECRET}@db/o", abs, 0, 0.0, 1, 1)
    assert SECRET not in repr(job)


# --- HEADWAY_OPTUNA_STORAGE ----------------------------------------------------------------


def test_optuna_storage_variable_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "p", rows=200, training={"optuna_storage": "journal:/file"})
    assert Project.load(root, settings=Settings()).optuna_storage == "journal:/file"
    monkeypatch.setenv("HEADWAY_OPTUNA_STORAGE", "sqlite:////shared/optuna.db")
    project = Project.load(root)
    assert project.optuna_storage == "sqlite:////shared/optuna.db"
    # The training stage reads its section of the config, never the environment.
    assert project.config.training.optuna_storage == "sqlite:////shared/optuna.db"
    assert project.config.training.budget.trials == 4  # the rest of the file is kept


# --- a whole run ---------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG, those that do not propagate included."""
    handler = _Lines()
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    levels = {lg: lg.level for lg in loggers}
    hooked = [lg for lg in loggers if lg is logging.getLogger() or not lg.propagate]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for lg in hooked:
        lg.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for lg in hooked:
            lg.removeHandler(handler)
        for lg, level in levels.items():
            lg.setLevel(level)


def _files_holding(folder: Path, secret: str) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    )


def assert_nothing_recorded_holds(project: Project, secret: str) -> list[str]:
    """Check every MLflow param, tag, artifact and model version, every audit record and
    every file under DIR/.headway; return the artifact paths of the runs."""
    client = MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.registry_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, max_results=1000)
    assert runs
    paths: list[str] = []
    for run in runs:
        assert secret not in json.dumps(run.data.params), run.info.run_name
        assert secret not in json.dumps(run.data.tags), run.info.run_name
        pending = [""]
        while pending:
            for item in client.list_artifacts(run.info.run_id, pending.pop() or None):
                if item.is_dir:
                    pending.append(item.path)
                else:
                    paths.append(item.path)
    for model in client.search_registered_models():
        assert secret not in json.dumps(model.tags)
        for version in client.search_model_versions(f"name='{model.name}'"):
            full = client.get_model_version(model.name, version.version)
            assert secret not in json.dumps(full.tags)
            assert secret not in str(full.source) + str(full.description)
    with AuditLog.for_project(project) as audit:
        events = audit.events()
    assert events
    for event in events:
        assert secret not in repr(event)
    # Params, tags, versions, artifacts (model cards included) and audit records as stored.
    assert _files_holding(project.state_dir, secret) == []
    return paths


def _secret_project(root: Path, optuna_db: Path) -> Path:
    return make_project(
        root,
        rows=800,
        description=f"scored nightly from postgresql://reader:{SECRET}@warehouse/crm",
        training={
            "budget": {"trials": 2, "timeout_seconds": 60},
            "n_workers": 1,
            "model_families": ["lightgbm"],
            # SQLite ignores the parameter; the URI is opened all the same.
            "optuna_storage": f"sqlite:///{optuna_db}?password={SECRET}",
            # Recorded, not used by the local executor.
            "ray_address": f"ray://admin:{SECRET}@ray.internal:10001",
        },
        evaluation={"explain": False},
    )


def test_a_password_in_the_config_is_recorded_nowhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _secret_project(tmp_path / "churn", tmp_path / "optuna.db")
    project = Project.load(root, settings=Settings())
    with every_log_line() as lines:
        result = run_pipeline(project)
    out = capsys.readouterr()
    assert lines, "no log line was captured"
    assert [line for line in lines if SECRET in line] == []
    assert SECRET not in out.out + out.err
    # The search really used the storage whose URI held the password.
    assert len(optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'optuna.db'}")) == 1

    client = MlflowClient(tracking_uri=project.tracking_uri)
    params = client.get_run(result.run_id).data.params
    assert params["training.optuna_storage"] == (
        f"sqlite:///{tmp_path / 'optuna.db'}?password={MASK}"
    )
    assert params["training.ray_address"] == f"ray://admin:{MASK}@ray.internal:10001"
    assert params["description"] == f"scored nightly from postgresql://reader:{MASK}@warehouse/crm"
    logged = Path(client.download_artifacts(result.run_id, "headway.yaml", str(tmp_path)))
    assert MASK in logged.read_text() and SECRET not in logged.read_text()
    assert load_config(logged).training.ray_address == f"ray://admin:{MASK}@ray.internal:10001"
    # A result printed in a notebook does not show a password in the store's URI.
    shown = dataclasses.replace(result, tracking_uri=f"https://u:{SECRET}@mlflow.internal/")
    assert SECRET not in repr(shown) and SECRET in shown.tracking_uri

    # The same project through the command, its storage given by HEADWAY_OPTUNA_STORAGE.
    env_db = tmp_path / "env-optuna.db"
    ran = run_cli(
        "run",
        "--project",
        str(root),
        env={
            "HEADWAY_LOG_LEVEL": "DEBUG",
            "HEADWAY_OPTUNA_STORAGE": f"sqlite:///{env_db}?sslpassword={SECRET}",
        },
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert SECRET not in ran.stdout + ran.stderr
    # The log line that names the storage is there, masked.
    assert f"kept in sqlite:///{env_db}?sslpassword={MASK}" in ran.stderr
    assert len(optuna.get_all_study_summaries(f"sqlite:///{env_db}")) == 1
    second = client.search_runs(
        [client.get_experiment_by_name("churn").experiment_id],
        "attributes.run_name = 'churn-run'",
        order_by=["attributes.start_time DESC"],
    )[0]
    assert second.data.params["training.optuna_storage"] == f"sqlite:///{env_db}?sslpassword={MASK}"

    for command in (("audit", "--json"), ("lineage", "churn/1")):
        shown = run_cli(*command, "--project", str(root))
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert SECRET not in shown.stdout + shown.stderr, command

    paths = assert_nothing_recorded_holds(project, SECRET)
    assert {"headway.yaml", "model_card.md", "model_card.html"} <= {
        p.rsplit("/", 1)[-1] for p in paths
    }

    # The logged copy of headway.yaml is masked; reproducing does not need the storage.
    report = reproduce(project, "churn", result.version.version)
    assert report.matches


# --- PostgreSQL: the control plane and the Optuna storage behind a password ------------------


def _with_password(url: str) -> str:
    user_part, _, rest = url.partition("@")
    return f"{user_part}:{SECRET}@{rest}"


def test_postgresql_passwords_are_recorded_nowhere(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # The throwaway cluster trusts its unix-socket clients: the password travels in the
    # URLs (to SQLAlchemy, psycopg, Optuna, the audit log) without being checked.
    control = _with_password(postgres_server.create_database())
    storage = _with_password(postgres_server.create_database())
    root = make_project(
        tmp_path / "churn",
        rows=800,
        training={
            "budget": {"trials": 2, "timeout_seconds": 60},
            "n_workers": 1,
            "model_families": ["lightgbm"],
            "optuna_storage": storage,
        },
        evaluation={"explain": False},
        control_plane={"url": control},
    )
    project = Project.load(root, settings=Settings())
    with every_log_line() as lines:
        result = run_pipeline(project)
    assert [line for line in lines if SECRET in line] == []
    assert result.version.version == "1"
    assert len(optuna.get_all_study_summaries(storage)) == 1

    params = MlflowClient(tracking_uri=project.tracking_uri).get_run(result.run_id).data.params
    assert params["control_plane.url"] == redact_uri(control)
    assert params["training.optuna_storage"] == redact_uri(storage)
    assert f"headway:{MASK}@/" in params["control_plane.url"]

    audit = run_cli("audit", "--json", "--project", str(root))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout) and SECRET not in audit.stdout + audit.stderr

    assert_nothing_recorded_holds(project, SECRET)
    assert reproduce(project, "churn", "1").matches
