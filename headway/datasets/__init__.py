"""Seeded generators for the bundled example projects. The generators (numpy, pandas) load
on first use; the list of examples does not need them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway._lazy import lazy_exports
from headway.datasets._examples import EXAMPLES, Example, write_example

if TYPE_CHECKING:
    from headway.datasets.churn import make_churn
    from headway.datasets.credit import make_credit
    from headway.datasets.demand import make_demand
    from headway.datasets.stream import make_stream

__all__ = [
    "EXAMPLES",
    "Example",
    "make_churn",
    "make_credit",
    "make_demand",
    "make_stream",
    "write_example",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "make_churn": ".churn",
        "make_credit": ".credit",
        "make_demand": ".demand",
        "make_stream": ".stream",
    },
)
