"""Model cards: one governance document per model version, as Markdown and as HTML.

A card says what a version is for, what it was trained on, how it did on held-out data
(overall, per slice, per sensitive group), why the gates blessed it or not, who approved
it, what it cannot do, and where every input came from. It is written for three readers
at once: a regulator (limitations, fairness, decisions), a business owner (summary,
business value) and an engineer (training, lineage).

:func:`render_model_card` only renders: the caller assembles the card from the artifacts
(``to_dict`` of :class:`~headway.artifacts.EvaluationReport`,
:class:`~headway.artifacts.Blessing`, ...), the registry and the audit log. Every section
is optional; what is missing reads "not recorded" instead of failing. Both outputs are
deterministic (no render time): the same card gives the same bytes.

What each section shows is decided here and in ``_card_about`` and ``_card_results``; how
it is laid out is in the templates ``model_card.html.j2`` and ``model_card.md.j2``. The
HTML is one self-contained page: inline CSS, the feature importance as an inline SVG, no
scripts and no URLs; all text from the card is escaped. In the Markdown, ``|`` is escaped
in tables and ``<`` everywhere, so that data cannot open an HTML tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headway.reports import _card_about as about
from headway.reports import _card_results as results
from headway.reports import _format as fmt
from headway.reports._blocks import Block
from headway.reports._env import environment

__all__ = ["render_model_card"]

_SECTIONS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], list[Block]]], ...] = (
    ("summary", "Summary", about.summary_section),
    ("intended-use", "Intended use", about.intended_use_section),
    ("data", "Data", about.data_section),
    ("training", "Training", about.training_section),
    ("evaluation", "Evaluation", results.evaluation_section),
    ("slices", "Slices", results.slices_section),
    ("fairness", "Fairness", results.fairness_section),
    ("top-features", "Top features", results.features_section),
    ("behavioural-checks", "Behavioural checks", results.behaviour_section),
    ("gates", "Gates", results.gates_section),
    ("approvals", "Approvals and decisions", about.approvals_section),
    ("limitations", "Limitations", results.limitations_section),
    ("lineage", "Lineage", about.lineage_section),
)


@dataclass(frozen=True)
class _Section:
    anchor: str
    heading: str
    blocks: Sequence[Block]


def _title(card: Mapping[str, Any]) -> str:
    name = fmt.as_text(card.get("name"), "unnamed model")
    version = card.get("version")
    return f"{name} v{version}" if version not in (None, "") else f"{name} (version not recorded)"


def render_model_card(card: Mapping[str, Any]) -> tuple[str, str]:
    """Render a model card as Markdown and as a self-contained HTML page.

    Sections, in order: the title (name, version and status badges), Summary, Intended
    use, Data, Training, Evaluation, Slices, Fairness, Top features, Behavioural checks,
    Gates, Approvals and decisions, Limitations and Lineage. Limitations lists the ones
    the card states, then those that follow from the evaluation: flagged slices, fairness
    differences above 0.1, a calibration error above 0.05, the evaluation's notes, a test
    set under 1,000 rows, and the end of a time-split model's data period.

    Args:
        card: the version's facts as plain values. Keys (all optional): ``name``,
            ``version``, ``created_at``, ``task``, ``target``, ``description`` (intended
            use), ``aliases``, ``tags``; ``status`` (``blessed``, ``approval``,
            ``approval_by``, ``approval_reason``, ``approval_at``, ``archived``); ``data``
            (``dataset_hash``, ``n_rows``, ``columns``, ``source_uri``, ``schema_hash``,
            ``period``, ``split``); ``training`` (the fields of a
            :class:`~headway.artifacts.TrainedModel` and ``budget``); ``evaluation``
            (``to_dict`` of an :class:`~headway.artifacts.EvaluationReport`, optionally
            with ``behaviour``, ``latency_p95_ms`` and ``size_mb``); ``gates`` (``to_dict``
            of a :class:`~headway.artifacts.Blessing`, optionally with ``checks``);
            ``approvals`` (audit events, oldest first); ``limitations`` (strings);
            ``lineage`` (``run_id``, hashes, ``git_commit``, ``git_dirty``, ``packages``
            as a dict or JSON, ``model_uri``).

    Returns:
        ``(markdown, html)``. A missing or empty section reads "not recorded"; wrongly
        typed values are shown as text or skipped, never raised on. Metrics have 4
        decimals, counts thousands separators. The HTML escapes all text and has no
        scripts or external references; the Markdown escapes ``|`` in tables and ``<``.

    Example::

        markdown, page = render_model_card({"name": "credit", "version": "3", ...})
        Path("model_card.html").write_text(page, encoding="utf-8")
    """
    card = fmt.as_map(card)
    view = {
        "title": _title(card),
        "badges": about.badges(card),
        "sections": [
            _Section(anchor, heading, build(card)) for anchor, heading, build in _SECTIONS
        ],
    }
    env = environment()
    markdown = env.get_template("model_card.md.j2").render(view)
    page = env.get_template("model_card.html.j2").render(view)
    return markdown, page
