"""Lazy package exports: a package's public names load on first use (PEP 562).

``import headway`` and ``headway --help`` must not pay for MLflow, scikit-learn, Optuna or
matplotlib; a package that re-exports names from heavy modules declares where each name
lives, and the module is imported when the name is first read.

Example (in a package's ``__init__.py``)::

    __getattr__, __dir__ = lazy_exports(__name__, {"ModelRegistry": ".mlflow_registry"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose names in ``exports`` (name ->
    module, absolute or relative to the package) are imported on first access."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later reads skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
