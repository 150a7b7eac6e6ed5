"""Sticky A/B assignment of rows, and splitting a request between two versions and back.

A row goes to the candidate when the CRC-32 of its entity value (as text) falls under
``weight`` of the 32-bit range: the same entity meets the same version on every request,
in every worker process and on every machine, as long as the weight stays.
"""

from __future__ import annotations

import zlib
from typing import Any

from headway.serving.protocol import ParsedRequest

__all__ = ["in_candidate", "merge", "subset"]


def in_candidate(parsed: ParsedRequest, column: str, weight: float) -> list[bool]:
    """Per row: whether its entity's hash falls under ``weight`` (a missing value or a
    missing column: no)."""
    if parsed.columns is not None and column in parsed.columns:
        values = list(parsed.columns[column])
    else:
        frame = parsed.frame()
        values = frame[column].tolist() if column in frame.columns else [None] * parsed.n_rows
    cut = weight * 2**32
    return [v is not None and v == v and zlib.crc32(str(v).encode("utf-8")) < cut for v in values]


def subset(parsed: ParsedRequest, rows: list[int]) -> ParsedRequest:
    """The request's ``rows``, in order, as a request of their own."""
    columns = None
    if parsed.columns is not None:
        columns = {c: [values[i] for i in rows] for c, values in parsed.columns.items()}
    return ParsedRequest(
        len(rows), columns, lambda: parsed.frame().iloc[rows].reset_index(drop=True)
    )


def merge(n_rows: int, parts: list[tuple[list[int], dict[str, Any]]]) -> dict[str, Any]:
    """One answer from the answers of parts of a request (row positions in ``parts``)."""
    merged: dict[str, Any] = {}
    warnings: list[dict[str, Any]] = []
    for rows, answer in parts:
        for key, values in answer.items():
            if key == "warnings":
                for w in values:
                    warnings.append({**w, "rows": [rows[r] for r in w["rows"]]})
            elif isinstance(values, list) and len(values) == len(rows):
                column = merged.setdefault(key, [None] * n_rows)
                for position, value in zip(rows, values, strict=True):
                    column[position] = value
    if warnings:
        merged["warnings"] = warnings
    return merged
