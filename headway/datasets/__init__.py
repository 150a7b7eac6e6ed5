"""Seeded generators for the bundled example projects."""

from __future__ import annotations

from headway.datasets._examples import EXAMPLES, Example, write_example
from headway.datasets.churn import make_churn
from headway.datasets.credit import make_credit
from headway.datasets.demand import make_demand

__all__ = ["EXAMPLES", "Example", "make_churn", "make_credit", "make_demand", "write_example"]
