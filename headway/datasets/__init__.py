"""Seeded generators for the bundled example projects."""

from __future__ import annotations

from headway.datasets._examples import EXAMPLES, Example, write_example
from headway.datasets.churn import make_churn

__all__ = ["EXAMPLES", "Example", "make_churn", "write_example"]
