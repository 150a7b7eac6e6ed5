"""Gates stage: value thresholds and the comparison with the champion."""

from __future__ import annotations

from headway.gates.blessing import bless

__all__ = ["bless"]
