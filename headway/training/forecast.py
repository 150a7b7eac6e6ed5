"""Where models registered by headway 0.1 find their forecasting step.

A saved model names the module of each of its classes; forecasting models registered by
headway 0.1 name ``headway.training.forecast.ForecastFeatures``. The class now lives in
:mod:`headway.features.forecast`; this alias keeps those models loadable.
"""

from __future__ import annotations

from headway.features.forecast import ForecastFeatures

__all__ = ["ForecastFeatures"]
