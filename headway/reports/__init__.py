"""Reports: model cards (HTML and Markdown), data-validation and monitoring pages (HTML),
rendered with Jinja2 templates that share one base layout and stylesheet.

The Python side decides what to show (wording, number formats, ordering, "not recorded");
the templates in ``headway/reports/templates`` decide how it looks. Every page is a single
self-contained file with no scripts and no URLs, and everything taken from the data is
escaped. Names load on first use (the validation page needs pandas and matplotlib, the
model card does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway._lazy import lazy_exports

if TYPE_CHECKING:
    from headway.reports._env import create_environment
    from headway.reports.card import render_model_card
    from headway.reports.monitoring import render_monitoring_html
    from headway.reports.validation import render_validation_html

__all__ = [
    "create_environment",
    "render_model_card",
    "render_monitoring_html",
    "render_validation_html",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "create_environment": "._env",
        "render_model_card": ".card",
        "render_monitoring_html": ".monitoring",
        "render_validation_html": ".validation",
    },
)
