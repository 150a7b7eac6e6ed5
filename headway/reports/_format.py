"""Reading loosely typed values and writing them as text: numbers, "not recorded", Markdown.

A card arrives as plain values, often strings (MLflow tags are strings), sometimes of the
wrong type; these helpers never raise on such a value, they show it as text or skip it.
The number formats are registered as template filters too (see :mod:`headway.reports._env`).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

NOT_RECORDED = "not recorded"
DASH = "—"


# ---------------------------------------------------------------- reading values


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` as a list if it is a list or a tuple, else an empty list."""
    return list(value) if isinstance(value, list | tuple) else []


def as_number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric string (MLflow tags are
    strings); ``None`` otherwise, booleans included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):  # numpy scalars too
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def as_flag(value: Any) -> bool | None:
    """``value`` as a boolean when it is one or reads ``true``/``false``; else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def as_text(value: Any, missing: str = NOT_RECORDED) -> str:
    """``value`` as text: containers as JSON, ``missing`` for None and empty values."""
    if value is None:
        return missing
    if isinstance(value, str):  # str(): a plain copy of a subclass such as Markup, escaped
        return str(value) if value.strip() else missing
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str) if value else missing
    return str(value)


# ---------------------------------------------------------------- formatting numbers


def metric(value: Any, missing: str = DASH) -> str:
    """A metric to 4 decimals (4 significant digits under 0.001), thousands separated."""
    number = as_number(value)
    if number is None:
        return missing if value is None else str(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number != 0 and (abs(number) < 1e-3 or abs(number) >= 1e15):
        return f"{number:.4g}"
    return f"{number:,.4f}"


def count(value: Any, missing: str = DASH) -> str:
    """A count with thousands separators (a non-integer is shown as a metric)."""
    number = as_number(value)
    if number is None:
        return missing if value is None else str(value)
    if math.isfinite(number) and number.is_integer():
        return f"{int(number):,}"
    return metric(number)


def amount(value: Any, missing: str = DASH) -> str:
    """A money amount: thousands separated, at most 2 decimals."""
    number = as_number(value)
    if number is None or not math.isfinite(number):
        return metric(value, missing)
    formatted = f"{number:,.2f}"
    return formatted[:-3] if formatted.endswith(".00") else formatted


def plain(value: Any, missing: str = DASH) -> str:
    """A measurement (milliseconds, megabytes): at most 4 decimals, no trailing zeros."""
    formatted = metric(value, missing)
    if "." in formatted and "e" not in formatted:
        return formatted.rstrip("0").rstrip(".")
    return formatted


def param(value: Any) -> str:
    """A hyper-parameter: floats as metrics, other scalars as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return metric(value)
    return as_text(value, "")


def interval(value: Any) -> str:
    """A ``(low, high)`` pair as ``low to high``, or a dash."""
    bounds = as_list(value)
    if len(bounds) != 2 or as_number(bounds[0]) is None or as_number(bounds[1]) is None:
        return DASH
    return f"{metric(bounds[0])} to {metric(bounds[1])}"


def short(digest: Any) -> str:
    """A hash cut to 12 characters."""
    full = as_text(digest)
    return full[:12] if full != NOT_RECORDED and len(full) > 12 else full


def plural(n: int, word: str) -> str:
    """``1 row``, ``2,000 rows``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def clip(value: object, limit: int) -> str:
    """``value`` as text of at most ``limit`` characters, ending in "…" when cut."""
    full = str(value)
    return full if len(full) <= limit else full[: limit - 1] + "…"


# ---------------------------------------------------------------- Markdown


def md(value: object) -> str:
    """Markdown text: ``<`` escaped so that no value opens an HTML tag."""
    return str(value).replace("<", "\\<")


def md_line(value: object) -> str:
    """Markdown text on one line: whitespace runs collapsed, ``<`` escaped."""
    return md(" ".join(str(value).split()))


def md_cell(value: object) -> str:
    """A Markdown table cell: one line, ``|`` and ``<`` escaped, never empty."""
    return md_line(value).replace("|", "\\|") or " "
