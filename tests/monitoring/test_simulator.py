"""The traffic simulator against a real ``headway serve``: every row answered and logged, each
label sent after its delay and joined to its prediction; unknown ids, refused tokens and an
unreachable server reported clearly; ``headway simulate`` prints the counts as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from headway import Project, run_pipeline
from headway.cli.simulate import simulate as simulate_command
from headway.datasets import make_stream
from headway.exceptions import ConfigError, DataError, ServingError
from headway.monitoring.simulator import PredictionClient, simulate
from headway.predictions import open_prediction_log
from tests.helpers import free_port, make_tiny_project, serving

PREDICT_TOKEN = "simulator-predict-token-0123456789"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = make_tiny_project(tmp_path_factory.mktemp("simulate") / "churn", rows=800)
    loaded = Project.load(root)
    assert run_pipeline(loaded).blessing.blessed
    return loaded


@pytest.fixture(scope="module")
def server(project: Project) -> Iterator[str]:
    with serving(project.root, "--workers", "1") as url:
        yield url


def _cli() -> typer.Typer:
    """A Typer app holding only the command, as the ``headway`` app registers it."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(simulate_command)
    return app


def _project_copy(project: Project, directory: Path, **changes: object) -> Path:
    """A copy of the project's headway.yaml (all ``simulate`` reads) with ``changes``:
    ``section.key`` -> value."""
    config = yaml.safe_load((project.root / "headway.yaml").read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        config.setdefault(section, {})[key] = value
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "headway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def test_every_row_is_answered_logged_and_labelled_after_its_delay(
    project: Project, server: str
) -> None:
    stream = make_stream("churn", 300, drift="covariate", at=150, seed=11)
    seen: list[tuple[int, int]] = []

    result = simulate(
        server,
        stream,
        target="churned",
        label_delay=50,
        label_batch=10,
        on_progress=lambda rows, labels: seen.append((rows, labels)),
    )

    assert result.rows == result.rows_sent == result.rows_answered == 300
    assert result.requests == 300
    assert result.failures == ()
    assert result.labels_sent == result.labels_accepted == 300
    assert result.labels_refused == result.labels_failed == 0
    assert result.unknown_ids == ()
    ids = list(result.prediction_ids)
    assert None not in ids
    assert len(set(ids)) == 300
    assert seen[-1] == (300, 300)
    assert [rows for rows, _ in seen] == sorted(rows for rows, _ in seen)

    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        joined = log.joined().set_index("prediction_id")
        received = log.feedback().set_index("prediction_id")["received_at"]
    ours = joined.loc[ids]
    assert len(ours) == 300
    assert ours["label"].notna().all()
    assert ours["label"].astype(int).tolist() == stream["churned"].tolist()
    assert [row["monthly_charges"] for row in ours["inputs"]] == stream["monthly_charges"].tolist()
    assert all("churned" not in row for row in ours["inputs"])

    # A label is sent once 50 further rows were answered, not before, and not all at the end.
    times = ours["timestamp"].tolist()
    labelled = received.loc[ids].tolist()
    assert all(labelled[i] >= times[i + 50] for i in range(250))
    assert labelled[0] < times[-1]


def test_batches_and_a_rate_answer_every_row(server: str) -> None:
    stream = make_stream("churn", 45, seed=12)

    result = simulate(server, stream, target="churned", batch_rows=10, rate=200.0, label_delay=0)

    assert result.requests == 5
    assert result.rows_answered == 45
    assert result.labels_accepted == 45


def test_no_labels_are_sent_without_a_label_delay(server: str) -> None:
    stream = make_stream("churn", 20, seed=13)

    result = simulate(server, stream, target="churned", label_delay=None)

    assert result.rows_answered == 20
    assert result.labels_sent == 0


def test_labels_for_ids_the_server_never_gave_are_reported(server: str) -> None:
    with PredictionClient(server) as client:
        reply = client.send_labels([("never-predicted-1", 1), ("never-predicted-2", 0)])

    assert reply.status == 200
    assert reply.doc is not None
    assert reply.doc["accepted"] == 0
    assert reply.doc["unknown_ids"] == ["never-predicted-1", "never-predicted-2"]


def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ServingError, match=re.escape(url)):
        simulate(url, make_stream("churn", 5), target="churned")


def test_a_missing_target_column_is_named() -> None:
    stream = make_stream("churn", 5).drop(columns=["churned"])

    with pytest.raises(DataError, match="'churned'"):
        simulate("http://127.0.0.1:8080", stream, target="churned")


def test_the_token_is_sent_and_a_missing_one_stops_the_run(project: Project) -> None:
    stream = make_stream("churn", 10, seed=14)
    env = {"HEADWAY_API_TOKENS": f"{PREDICT_TOKEN}:predict"}
    with serving(project.root, "--workers", "1", env=env) as url:
        result = simulate(url, stream, target="churned", token=PREDICT_TOKEN, label_delay=2)
        with pytest.raises(ServingError, match="refused") as refused:
            simulate(url, stream, target="churned")

    assert result.rows_answered == 10
    assert result.labels_accepted == 10
    assert "401" in str(refused.value)
    assert url in str(refused.value)


def test_the_command_prints_the_counts_as_json(project: Project, server: str) -> None:
    args = ["--project", str(project.root), "--url", server, "--rows", "40", "--json"]
    args += ["--drift", "concept", "--at", "20", "--label-delay", "5", "--batch-rows", "4"]

    result = CliRunner().invoke(_cli(), args)

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["example"] == "churn"
    assert doc["drift"] == "concept"
    assert doc["at"] == 20
    assert doc["rows_answered"] == 40
    assert doc["requests"] == 10
    assert doc["failed_requests"] == 0
    assert doc["labels_accepted"] == 40
    assert doc["unknown_ids"] == []


def test_the_command_reports_in_words(project: Project, server: str) -> None:
    args = ["--project", str(project.root), "--url", server, "--rows", "12", "--label-delay", "3"]

    result = CliRunner().invoke(_cli(), args)

    assert result.exit_code == 0, result.output
    assert "12 rows sent to" in result.stdout
    assert "12 labels sent 3 rows after their prediction: 12 stored" in result.stdout


def test_the_command_names_the_default_url_it_cannot_reach(
    project: Project, tmp_path: Path
) -> None:
    port = free_port()
    root = _project_copy(project, tmp_path / "elsewhere", serving__port=port)

    result = CliRunner().invoke(_cli(), ["--project", str(root), "--rows", "5"])

    assert result.exit_code == 1
    assert isinstance(result.exception, ServingError)
    assert f"http://127.0.0.1:{port}" in str(result.exception)


def test_the_command_refuses_a_drift_point_past_the_stream(tmp_path: Path) -> None:
    args = ["--project", str(tmp_path), "--rows", "10", "--drift", "covariate", "--at", "10"]

    result = CliRunner().invoke(_cli(), args)

    assert result.exit_code == 2
    assert "--at" in result.output


def test_the_command_asks_for_the_example_when_the_target_is_unknown(
    project: Project, tmp_path: Path
) -> None:
    root = _project_copy(project, tmp_path / "renamed", data__target="will_cancel")

    result = CliRunner().invoke(_cli(), ["--project", str(root), "--rows", "5"])

    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert "--example" in str(result.exception)
    assert "'will_cancel'" in str(result.exception)
