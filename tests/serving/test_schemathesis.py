"""Every route of the server, called with requests generated from its OpenAPI description
(schemathesis): none answers a 5xx, and the description is a valid OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from headway import PipelineResult, Project
from headway.predictions import open_prediction_log
from headway.serving import ServingSettings, create_app
from headway.serving.model import ServedModel

Trained = tuple[Project, PipelineResult]


@schemathesis.serializer("text/csv")
def _csv(_: Any, value: Any) -> bytes:
    """The CSV body of ``/invocations``: a generated string, sent as is."""
    return value.encode() if isinstance(value, str) else str(value).encode()


@pytest.fixture(scope="module")
def api(
    trained: Trained, served: ServedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    project, _ = trained
    root = Path(tmp_path_factory.mktemp("schemathesis-log"))
    settings_ = ServingSettings(model_uri=served.uri, tracking_uri=project.tracking_uri)
    app = create_app(settings_, model=served, log=open_prediction_log(None, root))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    database=None,  # every run starts afresh
    suppress_health_check=list(HealthCheck),
)


def test_the_description_lists_every_route(api: Any) -> None:
    paths = set(api.raw_schema["paths"])
    assert {
        "/invocations",
        "/feedback",
        "/admin/reload",
        "/health/ready",
        "/metrics",
        "/v2/models/{name}/infer",
    } <= paths
    body = api.raw_schema["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    assert len(body["application/json"]["schema"]["oneOf"]) == 4


def test_no_route_answers_a_5xx(api: Any) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @EXAMPLES
        def call(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            case.validate_response(response, checks=[not_a_server_error])

        call()
