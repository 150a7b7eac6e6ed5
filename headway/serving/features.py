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
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from headway.exceptions import InvalidRequestError
from headway.features.definitions import FeatureDefinitions, apply_on_demand
from headway.features.online import BaseOnlineStore
from headway.serving.protocol import ParsedRequest

__all__ = ["FeatureFiller"]


def _json_values(column: pd.Series) -> list[Any]:
    """A column's values as a JSON request holds them: NaN and ``pd.NA`` as ``None``."""
    return [None if v is None or v is pd.NA or v != v else v for v in column.tolist()]


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

    def fill(self, parsed: ParsedRequest) -> ParsedRequest:
        """``parsed`` with every missing feature of the service filled, or as it is when it
        carries them all.

        Raises:
            InvalidRequestError: rows lack a feature and the entity keys to look it up
                (HTTP 400, naming the keys and the view).
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
