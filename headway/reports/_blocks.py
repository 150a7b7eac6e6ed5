"""What a model card section is made of: paragraphs, headings, facts, tables, lists and a bar
chart, as plain data.

The card's templates lay each block out by its ``kind`` (``_card.html.j2`` and
``_card.md.j2``); a block holds text that is already worded and formatted, and the
templates escape it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from headway.reports._format import metric


@dataclass(frozen=True)
class Text:
    """A paragraph; line breaks are kept."""

    kind: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True)
class Heading:
    """A heading within a section."""

    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Facts:
    """Label and value pairs: a bullet list in Markdown, a two-column table in HTML."""

    kind: ClassVar[str] = "facts"
    rows: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    """A table; ``marks`` gives rows a class (``bad``, ``warn``, ``ok`` or ``""``) and
    ``numeric`` the positions of the columns aligned right."""

    kind: ClassVar[str] = "table"
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    marks: Sequence[str] = ()
    numeric: frozenset[int] = frozenset()

    @property
    def marked_rows(self) -> list[tuple[str, Sequence[str]]]:
        """Each row with its mark (``""`` past the end of ``marks``)."""
        return [(self.marks[i] if i < len(self.marks) else "", r) for i, r in enumerate(self.rows)]


@dataclass(frozen=True)
class Bullets:
    """A list; each item is (mark, text), the mark as in :class:`Table`."""

    kind: ClassVar[str] = "bullets"
    items: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Bar:
    """One bar of a :class:`Bars` chart, placed: ``y`` is the top of the bar, ``text_y`` the
    baseline of its labels, ``length`` its length and ``value_x`` where its value is written."""

    name: str
    value: float
    y: int
    text_y: int
    length: float
    value_x: float


@dataclass(frozen=True)
class Bars:
    """Values by name, largest first: a table in Markdown, an inline SVG bar chart in HTML."""

    kind: ClassVar[str] = "bars"
    label_width: ClassVar[int] = 220
    bar_width: ClassVar[int] = 340
    value_width: ClassVar[int] = 90
    row_height: ClassVar[int] = 24
    bar_height: ClassVar[int] = row_height - 6
    label: str
    bars: Sequence[Bar]

    @classmethod
    def of(cls, items: Sequence[tuple[str, float]], label: str) -> Bars:
        """The chart of ``items`` in their order; bars are scaled to the largest finite value,
        and a value that is not positive and finite gets no bar."""
        top = max((v for _, v in items if math.isfinite(v)), default=0.0)
        bars = []
        for i, (name, value) in enumerate(items):
            y = 4 + i * cls.row_height
            finite = math.isfinite(value) and value > 0
            length = cls.bar_width * value / top if top > 0 and finite else 0.0
            bars.append(Bar(name, value, y + 3, y + 16, length, cls.label_width + length + 6))
        return cls(label, bars)

    @property
    def width(self) -> int:
        """The chart's width in pixels."""
        return self.label_width + self.bar_width + self.value_width

    @property
    def height(self) -> int:
        """The chart's height in pixels."""
        return self.row_height * len(self.bars) + 8

    @property
    def table(self) -> Table:
        """The values as a ranked table."""
        rows = [(str(i), bar.name, metric(bar.value)) for i, bar in enumerate(self.bars, 1)]
        return Table(("#", "feature", self.label), rows, numeric=frozenset({0, 2}))


Block = Text | Heading | Facts | Table | Bullets | Bars
