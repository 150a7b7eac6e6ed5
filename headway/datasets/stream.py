"""Streams of new rows for the bundled examples, with a drift point inside the stream.

A stream is what a served model sees after training: rows of the example's population
that arrive later, whose population may change at a known row. :func:`make_stream` builds
one from the example's own generator:

- rows before ``at`` come from the reference population (the generator without drift);
- rows from ``at`` on come from the drifted generator: ``"covariate"`` (the inputs move,
  the rule linking them to the target stays), ``"concept"`` (the inputs stay, the rule
  changes) or ``"gradual"`` (covariate drift whose share of the rows rises linearly from 0
  to 1 over ``width`` rows after ``at``).

The reference and the drifted rows are drawn with the same seed, so for concept drift the
inputs of every row equal those of the stream without drift: only the target changes.
Stream rows never repeat the training table: the generator's seed is derived from the
stream's seed in a namespace of its own, the ids carry the prefix ``S`` (``SC000-0000000``
for churn, whose training ids are ``C0000000000``), and the times start after the
generator's default training window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from headway.datasets.churn import make_churn
from headway.datasets.credit import make_credit
from headway.datasets.demand import make_demand

__all__ = ["STREAM_EXAMPLES", "StreamDrift", "make_stream"]

StreamDrift = Literal["covariate", "concept", "gradual"]

_DRIFTS = ("covariate", "concept", "gradual")
# Mixed into every seed so that a stream never replays a training table of the same seed.
_STREAM_NAMESPACE = 0x53545245  # "STRE"


@dataclass(frozen=True)
class _StreamSpec:
    """How one example's generator becomes a stream."""

    generate: Callable[..., pd.DataFrame]
    id_column: str | None
    id_prefix: str
    time_column: str
    start: str  # the day after the generator's default training window


_SPECS: dict[str, _StreamSpec] = {
    # make_churn's default window: 730 days from 2024-01-01.
    "churn": _StreamSpec(make_churn, "customer_id", "SC", "observed_at", "2026-01-01"),
    # make_credit's default window: 730 days from 2023-01-01.
    "credit": _StreamSpec(make_credit, "application_id", "SA", "applied_at", "2025-01-01"),
    # make_demand covers one day per 60 rows from 2023-01-01: any default-sized table
    # (up to about 65,000 rows) ends before 2026.
    "demand": _StreamSpec(make_demand, None, "", "date", "2026-01-01"),
}

STREAM_EXAMPLES: tuple[str, ...] = tuple(_SPECS)
"""The examples :func:`make_stream` can generate."""


def make_stream(
    example: str,
    n_rows: int,
    *,
    drift: StreamDrift | None = None,
    at: int | None = None,
    width: int = 0,
    strength: float = 1.0,
    seed: int = 0,
    start: str | None = None,
    days: int = 30,
) -> pd.DataFrame:
    """Rows of an example's population arriving after training, drifting at row ``at``.

    Args:
        example: ``"churn"``, ``"credit"`` or ``"demand"`` (:data:`STREAM_EXAMPLES`).
        n_rows: rows in the stream.
        drift: ``None`` (the reference population throughout), ``"covariate"``,
            ``"concept"`` or ``"gradual"`` (covariate drift that sets in over ``width`` rows).
        at: the first row that may be drifted, ``0 <= at < n_rows``; default with a drift:
            ``n_rows // 2``. Only with ``drift``.
        width: ``"gradual"`` only: each row ``i >= at`` is drifted with probability
            ``min(1, (i - at + 1) / width)``; 0 (the default) spreads the rise over the
            rest of the stream.
        strength: scale of the drift, 0 (none) to about 2 (severe).
        seed: random seed; the same arguments give the same stream.
        start: first time of the stream (UTC for churn and credit, the first day for demand);
            default: after the generator's default training window.
        days: churn and credit: the stream's rows are spread over this many days from
            ``start`` (demand has one day per store x product grid).

    Returns:
        A DataFrame with the example's columns (id, time, features, target), ``n_rows``
        rows in time order; ids (churn ``SC000-0000000``, credit ``SA000-0000000``) are
        unique within the stream and never those of a training table.

    Raises:
        ValueError: an unknown ``example`` or ``drift``, or ``n_rows``, ``at``, ``width``,
            ``strength``, ``seed`` or ``days`` out of range; the message names the argument.

    Example:
        >>> stream = make_stream("churn", 1_000, drift="covariate", at=600)  # doctest: +SKIP
        >>> stream["contract"].iloc[600:].eq("month-to-month").mean()  # doctest: +SKIP
    """
    spec = _SPECS.get(example)
    if spec is None:
        raise ValueError(
            f"example={example!r} has no stream generator; choose one of "
            f"{', '.join(STREAM_EXAMPLES)}"
        )
    at, width = _check(n_rows, drift=drift, at=at, width=width, strength=strength, seed=seed)
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    generator_seed = int(np.random.SeedSequence([seed, _STREAM_NAMESPACE]).generate_state(1)[0])
    window = _window(spec, start, days)

    reference = _generate(spec, n_rows, seed=generator_seed, window=window)
    frame = reference
    if drift is not None:
        assert at is not None
        kind = "concept" if drift == "concept" else "covariate"
        drifted = _generate(
            spec, n_rows, seed=generator_seed, window=window, drift=kind, strength=strength
        )
        mask = _drifted_rows(n_rows, at=at, width=width if drift == "gradual" else 1, seed=seed)
        frame = pd.concat([reference[~mask], drifted[mask]]).sort_index()
        # The times stay the reference's, so the stream stays in time order across the mix.
        frame[spec.time_column] = reference[spec.time_column]
    if spec.id_column is not None:
        frame[spec.id_column] = [f"{spec.id_prefix}{seed:03d}-{i:07d}" for i in range(n_rows)]
    return frame.reset_index(drop=True)


def _check(
    n_rows: int,
    *,
    drift: str | None,
    at: int | None,
    width: int,
    strength: float,
    seed: int,
) -> tuple[int | None, int]:
    """The validated ``at`` and ``width`` (defaults filled in)."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if drift is not None and drift not in _DRIFTS:
        raise ValueError(f"drift must be None or one of {', '.join(_DRIFTS)}; got {drift!r}")
    if not math.isfinite(strength) or strength < 0:
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    if drift is None:
        if at is not None:
            raise ValueError(
                f"at={at} needs a drift: give drift='covariate', 'concept' or 'gradual'"
            )
        if width:
            raise ValueError(f"width={width} needs drift='gradual'")
        return None, 0
    if width and drift != "gradual":
        raise ValueError(
            f"width={width} applies to drift='gradual' only; drift={drift!r} is abrupt at row at"
        )
    at = n_rows // 2 if at is None else at
    if not 0 <= at < n_rows:
        raise ValueError(f"at must be a row of the stream, 0 <= at < n_rows={n_rows}; got {at}")
    return at, width or (n_rows - at)


def _window(spec: _StreamSpec, start: str | None, days: int) -> dict[str, object]:
    """The generator's keyword arguments that place the stream in time."""
    first = start or spec.start
    try:
        pd.Timestamp(first)
    except ValueError as exc:
        raise ValueError(f"start={first!r} is not a date or time, e.g. 2026-01-01") from exc
    if spec.id_column is None:  # demand: a daily grid from start
        return {"start": first}
    return {"start": first, "days": days}


def _generate(
    spec: _StreamSpec,
    n_rows: int,
    *,
    seed: int,
    window: dict[str, object],
    drift: str | None = None,
    strength: float = 1.0,
) -> pd.DataFrame:
    """``n_rows`` rows of the example's generator (demand: the first ``n_rows`` rows of a
    grid of whole days, so that the drifted and the reference grid line up)."""
    if spec.id_column is None:
        series = 4 * 15  # make_demand's default stores x products
        grid = spec.generate(
            math.ceil(n_rows / series) * series,
            seed=seed,
            drift=drift,
            drift_strength=strength,
            **window,
        )
        return grid.iloc[:n_rows].reset_index(drop=True)
    return spec.generate(n_rows, seed=seed, drift=drift, drift_strength=strength, **window)


def _drifted_rows(n_rows: int, *, at: int, width: int, seed: int) -> np.ndarray:
    """Which rows are drifted: none before ``at``, then each with a probability that rises
    linearly to 1 over ``width`` rows (``width`` 1: every row from ``at``)."""
    index = np.arange(n_rows)
    probability = np.clip((index - at + 1) / width, 0.0, 1.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_NAMESPACE, 1]))
    drifted: np.ndarray = rng.random(n_rows) < probability
    return drifted
