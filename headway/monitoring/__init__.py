"""Monitoring: is the model still right? Reference sketches of each version, drift tests per
column and window, realised performance once labels arrive, label-free estimates before
they do, root cause, alerts.

Modules: ``sketch`` (column sketches and window counts), ``drift`` (the six statistics,
the automatic choice, column and dataset verdicts), ``multivariate`` (PCA reconstruction
error), ``performance`` (realised metrics, slices), ``estimation`` (confidence-based
estimation), ``reference`` (a version's reference), ``monitor`` (one window, tested),
``alerts`` (the webhook payload), ``attribution`` (attribution drift), ``simulator``
(traffic replayed to a running server). It reads the prediction log through its interface and
never imports the server.
"""

from __future__ import annotations
