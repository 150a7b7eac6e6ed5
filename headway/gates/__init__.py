"""Gates stage: value, change, fairness and budget thresholds -> a Blessing."""

from __future__ import annotations

from headway.gates.blessing import TIE_TOLERANCE, bless
from headway.gates.champion import ScoredVersion, gate, score_version

__all__ = ["TIE_TOLERANCE", "ScoredVersion", "bless", "gate", "score_version"]
