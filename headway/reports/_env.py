"""The Jinja2 environment the reports render with: headway's templates and filters.

Templates live in ``headway/reports/templates`` and ship with the package. ``base.html.j2``
is the one page layout (with the shared stylesheet ``style.css`` inlined, so that a page is
a single self-contained file); every HTML report extends it. ``.html.j2`` templates escape
everything they print; ``.md.j2`` templates escape with the ``md`` filters instead. An
undefined name is an error, not an empty string.
"""

from __future__ import annotations

import functools

import jinja2

from headway.reports import _format as fmt

__all__ = ["create_environment", "environment"]

_FILTERS = {
    "amount": fmt.amount,
    "clip": fmt.clip,
    "count": fmt.count,
    "md": fmt.md,
    "md_cell": fmt.md_cell,
    "md_line": fmt.md_line,
    "metric": fmt.metric,
    "plain": fmt.plain,
}


def create_environment() -> jinja2.Environment:
    """A new Jinja2 environment over headway's report templates.

    Autoescaping is on for ``.html`` and ``.html.j2`` templates (and for templates made from
    strings), undefined names raise, and a template's trailing newline is kept. Besides
    Jinja2's own, the filters are: ``metric`` (4 decimals), ``count`` (thousands
    separators), ``amount`` (money, at most 2 decimals), ``plain`` (no trailing zeros),
    ``clip(n)`` (at most ``n`` characters, "…" when cut), and for Markdown ``md`` (escapes
    ``<``), ``md_line`` (also one line) and ``md_cell`` (also ``|``, for table cells).

    Returns:
        The environment; templates may extend ``base.html.j2`` for the shared layout.

    Example::

        page = create_environment().from_string(
            '{% extends "base.html.j2" %}{% block title %}{{ name }}{% endblock %}'
        ).render(name="churn")
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("headway.reports", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_FILTERS)
    return env


@functools.cache
def environment() -> jinja2.Environment:
    """The environment the reports share (created once: it caches compiled templates)."""
    return create_environment()
