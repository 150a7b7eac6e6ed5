"""Training stage: the hyper-parameter search over model families, on local processes or Ray."""

from __future__ import annotations

from headway.training.search import TrialRecord, train

__all__ = ["TrialRecord", "train"]
