"""Each package exports a curated ``__all__`` of public, importable names."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "headway",
    "headway.data",
    "headway.datasets",
    "headway.training",
    "headway.evaluation",
    "headway.gates",
    "headway.config",
    "headway.controlplane",
    "headway.features",
    "headway.pipeline",
    "headway.reports",
    "headway.registry",
    "headway.serving",
    "headway.exceptions",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_exports_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__

    # sorted: case-insensitively, plainly, or isort-style (CONSTANTS, Classes, functions)
    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported in (
        sorted(exported, key=str.casefold),
        sorted(exported),
        sorted(exported, key=isort_key),
    )
    for item in exported:
        assert hasattr(module, item), f"{name}.{item} is in __all__ but missing"
        assert not item.startswith("_") or item == "__version__"


def test_top_level_api() -> None:
    import headway

    assert set(headway.__all__) >= {
        "Project",
        "ProjectConfig",
        "load_config",
        "run_pipeline",
        "HeadwayError",
        "PipelineResult",
        "__version__",
    }


def test_error_tree() -> None:
    import headway

    for name in headway.exceptions.__all__:
        cls = getattr(headway.exceptions, name)
        assert issubclass(cls, headway.HeadwayError)
    assert issubclass(headway.ModelNotFoundError, headway.RegistryError)
    assert issubclass(headway.InvalidRequestError, headway.ServingError)
