"""Serving by entity keys: the features of a model trained on a feature service, filled
from the online store.

A model trained on a feature service still takes the full feature row (so it loads and
predicts in plain MLflow). When the server is told the service (``features.service`` of
the project), a request may carry only the entity keys (and any request-time fields):
:class:`FeatureFiller` reads each view's missing features from the online store (the
values as materialized, ``None`` when absent or older than the view's TTL) and adds them
to the rows, before the model scores them and the prediction log records them: the
logged inputs are the values the model saw. Features the request carries itself are kept.
On-demand features are then computed from the row by the code that computed them for the
training set (:func:`~headway.features.definitions.apply_on_demand`).

A feature the training schema says is never null, but that the store has no value for (the
entity was never materialized, or its value is older than the view's TTL), is a 400 that
names the feature, the view, the entity and the reason, rather than the schema's bare
"is null".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from headway.exceptions import InvalidRequestError
from headway.features.definitions import FeatureDefinitions, FeatureView, apply_on_demand
from headway.features.online import BaseOnlineStore, OnlineRead
from headway.serving.protocol import ParsedRequest

__all__ = ["FeatureFiller"]


def _json_values(column: pd.Series) -> list[Any]:
    """A column's values as a JSON request holds them: NaN and ``pd.NA`` as ``None``."""
    return [None if v is None or v is pd.NA or v != v else v for v in column.tolist()]


def _check_found(
    view: FeatureView,
    keys: list[str],
    columns: dict[str, list[Any]],
    read: OnlineRead,
    required: list[str],
) -> None:
    """Raise when the store has no (fresh) value for a row of ``required`` features."""
    if not required:
        return
    row = next((i for i, found in enumerate(read.found) if not found), None)
    if row is None:
        return
    entity = ", ".join(f"{k}={columns[k][row]!r}" for k in keys)
    why = (
        f"its value is older than the view's TTL of {view.ttl}"
        if read.stale[row]
        else "the online store has no value for it"
    )
    raise InvalidRequestError(
        f"feature {required[0]!r} of feature view {view.name} is missing for row {row} "
        f"({entity}): {why}, and the training schema says it is never null. Run 'headway "
        "features materialize' (or materialize-incremental) to bring the store up to date, "
        "or send the feature in the request"
    )


class FeatureFiller:
    """Fills a request's missing features of one service from an online store.

    Args:
        definitions: the project's feature definitions.
        service: the feature service the served model was trained on.
        store: the online store (kept open by the server).

    Raises:
        ValueError: an unknown service.
    """

    def __init__(
        self, definitions: FeatureDefinitions, service: str, store: BaseOnlineStore
    ) -> None:
        self.service = service
        self.store = store
        self.views = [
            (view, definitions.join_keys(view), features)
            for view, features in definitions.resolve(service)
        ]
        self.on_demand = definitions.on_demand(service)
        # The entity keys a request may carry instead of the features.
        self.keys = frozenset(k for _, keys, _ in self.views for k in keys)

    def fill(self, parsed: ParsedRequest, required: Collection[str] = ()) -> ParsedRequest:
        """``parsed`` with every missing feature of the service filled, or as it is when it
        carries them all.

        ``required``: the columns the model's training schema says are never null (under
        ``checks.nulls: error``).

        Raises:
            InvalidRequestError: rows lack a feature and the entity keys to look it up, or
                the store has no (fresh) value of a required feature (HTTP 400, naming the
                keys, the view and the feature).
        """
        present = set(parsed.columns) if parsed.columns is not None else set(parsed.frame())
        todo = [
            (view, keys, [f for f in features if f not in present])
            for view, keys, features in self.views
        ]
        todo = [item for item in todo if item[2]]
        computed = [f for f in self.on_demand if f.name not in present]
        if not todo and not computed:
            return parsed
        columns: dict[str, list[Any]] = (
            {c: list(v) for c, v in parsed.columns.items()}
            if parsed.columns is not None
            else {str(c): parsed.frame()[c].tolist() for c in parsed.frame().columns}
        )
        for view, keys, missing in todo:
            absent = [k for k in keys if k not in columns]
            if absent:
                raise InvalidRequestError(
                    f"rows lack the features {missing} of feature view {view.name} and its "
                    f"entity key {absent} to look them up (the model is trained on feature "
                    f"service {self.service}); send the key, or the features themselves"
                )
            read = self.store.read(
                view.name,
                [
                    dict(zip(keys, row, strict=True))
                    for row in zip(*(columns[k] for k in keys), strict=True)
                ],
                features=missing,
                ttl=view.ttl_delta,
            )
            _check_found(view, keys, columns, read, [f for f in missing if f in required])
            for feature in missing:
                columns[feature] = _json_values(read.values[feature])
        frame = pd.DataFrame(columns)
        if computed:  # the same code as the training set's (apply_on_demand)
            frame = apply_on_demand(frame, computed)
            for extra in computed:
                columns[extra.name] = _json_values(frame[extra.name])
        return ParsedRequest(parsed.n_rows, columns, lambda: frame)

    def fill_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A whole table filled the same way (``headway predict`` by entity keys)."""
        columns = {str(c): frame[c].tolist() for c in frame.columns}
        filled = self.fill(ParsedRequest(len(frame), columns, lambda: frame))
        return filled.frame()
