"""Feature definitions: entities, feature views and feature services, defined once.

A project declares them in ``features.yaml`` beside ``headway.yaml`` (or builds the same
objects in Python):

.. code-block:: yaml

    entities:
      - name: customer
        join_keys: [customer_id]
    feature_views:
      - name: customer_profile
        entities: [customer]
        source: {type: parquet, path: data/profile.parquet}
        timestamp_column: updated_at
        created_timestamp_column: loaded_at   # optional: breaks ties of one timestamp
        ttl: 365d                             # optional: older values are missing
        features:
          - {name: plan, type: string}
          - {name: monthly_charges, type: float}
        owner: crm-team
    on_demand_features:
      - name: charges_per_product
        type: float
        expression: monthly_charges / num_products   # over the row: request fields and
                                                     # the service's stored features
    services:
      - name: churn_model
        features: [customer_profile, customer_usage:logins_30d, charges_per_product]

A service names whole views (``customer_profile``), single features
(``customer_usage:logins_30d``) or on-demand features (``charges_per_product``), which are
computed from the row at training time and at serving time by the same code
(:func:`apply_on_demand`). :func:`load_definitions` validates the file and the
references between its parts; every error names the view, service or key and the fix.
:meth:`FeatureDefinitions.content_hash` identifies a set of definitions in lineage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from headway.config._base import Section
from headway.config.monitoring import parse_duration
from headway.exceptions import ConfigError

__all__ = [
    "FEATURES_FILENAME",
    "Entity",
    "Feature",
    "FeatureDefinitions",
    "FeatureService",
    "FeatureView",
    "OnDemandFeature",
    "ViewSource",
    "apply_on_demand",
    "load_definitions",
]

FEATURES_FILENAME = "features.yaml"
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

FeatureType = Literal["int", "float", "string", "bool", "timestamp"]


class Entity(Section):
    """What features describe, and the columns that identify one (its join keys)."""

    name: str = Field(pattern=_NAME)
    join_keys: list[str] = Field(min_length=1)
    description: str = ""


class Feature(Section):
    """One typed column of a feature view."""

    name: str = Field(pattern=_NAME)
    type: FeatureType
    description: str = ""


class ViewSource(Section):
    """Where a view's rows are: a CSV or Parquet file (or glob), or a DuckDB SQL query."""

    type: Literal["csv", "parquet", "sql"]
    path: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _fits(self) -> ViewSource:
        if self.type == "sql" and not self.query:
            raise ValueError("a sql source needs query: SELECT ... (DuckDB SQL over files)")
        if self.type != "sql" and not self.path:
            raise ValueError(f"a {self.type} source needs path: (relative to the project)")
        return self


class FeatureView(Section):
    """Features of one entity (or several) read from one source, stamped with the time
    each value became true."""

    name: str = Field(pattern=_NAME)
    entities: list[str] = Field(min_length=1)
    source: ViewSource
    timestamp_column: str
    created_timestamp_column: str | None = None
    ttl: str | None = None
    features: list[Feature] = Field(min_length=1)
    owner: str = ""
    description: str = ""

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = parse_duration(value)
            if parsed is None or parsed.total_seconds() <= 0:
                raise ValueError(
                    f"ttl {value!r} is not a duration above zero (30m, 12h, 7d, 52w); leave "
                    "it out for no limit"
                )
        return value

    @property
    def ttl_delta(self) -> timedelta | None:
        return None if self.ttl is None else parse_duration(self.ttl)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class OnDemandFeature(Section):
    """A feature computed from the row itself (request fields and stored features) by an
    arithmetic expression (pandas ``DataFrame.eval``), the same way in training and
    serving."""

    name: str = Field(pattern=_NAME)
    type: FeatureType
    expression: str = Field(min_length=1)
    description: str = ""

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        forbidden = [t for t in ("__", "@", "import", "lambda") if t in value]
        if forbidden:
            raise ValueError(
                f"expression {value!r} may use column names, numbers and operators only "
                f"(found {forbidden})"
            )
        return value


class FeatureService(Section):
    """The named set of features a model uses: whole views, or ``view:feature``."""

    name: str = Field(pattern=_NAME)
    features: list[str] = Field(min_length=1)
    description: str = ""


class FeatureDefinitions(Section):
    """A project's entities, views and services, checked against each other."""

    entities: list[Entity] = Field(default_factory=list)
    feature_views: list[FeatureView] = Field(default_factory=list)
    on_demand_features: list[OnDemandFeature] = Field(default_factory=list)
    services: list[FeatureService] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> FeatureDefinitions:
        for kind, items in (
            ("entity", self.entities),
            ("feature view", self.feature_views),
            ("on-demand feature", self.on_demand_features),
            ("service", self.services),
        ):
            names = [i.name for i in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{kind} names must be unique: {', '.join(twice)} twice")
        entities = {e.name: e for e in self.entities}
        for view in self.feature_views:
            unknown = [e for e in view.entities if e not in entities]
            if unknown:
                raise ValueError(
                    f"feature view {view.name}: unknown entities {unknown}; declare them under "
                    f"entities (known: {sorted(entities)})"
                )
            keys = self.join_keys(view)
            clash = sorted(set(keys) & set(view.feature_names))
            if clash:
                raise ValueError(f"feature view {view.name}: {clash} are join keys, not features")
            names = view.feature_names
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"feature view {view.name}: feature {twice} declared twice")
        for service in self.services:
            self.resolve(service.name)
        return self

    def view(self, name: str) -> FeatureView:
        for view in self.feature_views:
            if view.name == name:
                return view
        raise ConfigError(
            f"no feature view {name!r}; known: {sorted(v.name for v in self.feature_views)}"
        )

    def join_keys(self, view: FeatureView) -> list[str]:
        """The view's join keys: its entities' keys, in order, each once."""
        entities = {e.name: e for e in self.entities}
        keys: list[str] = []
        for name in view.entities:
            keys += [k for k in entities[name].join_keys if k not in keys]
        return keys

    def resolve(self, service: str) -> list[tuple[FeatureView, list[str]]]:
        """The views of ``service`` and the features it takes from each, in its order.

        Raises:
            ValueError: an unknown service, view or feature, or one feature name taken
                from two views (the message names both).
        """
        found = [s for s in self.services if s.name == service]
        if not found:
            raise ValueError(
                f"no feature service {service!r}; known: {sorted(s.name for s in self.services)}"
            )
        views = {v.name: v for v in self.feature_views}
        on_demand = {f.name for f in self.on_demand_features}
        chosen: dict[str, list[str]] = {}
        for ref in found[0].features:
            if ref in on_demand and ref not in views:
                continue  # computed from the row: see on_demand()
            view_name, _, feature = ref.partition(":")
            view = views.get(view_name)
            if view is None:
                raise ValueError(
                    f"service {service}: {ref!r} names no feature view; known: {sorted(views)}"
                )
            wanted = [feature] if feature and feature != "*" else view.feature_names
            missing = [f for f in wanted if f not in view.feature_names]
            if missing:
                raise ValueError(
                    f"service {service}: feature view {view_name} has no feature {missing}; "
                    f"it has {view.feature_names}"
                )
            chosen.setdefault(view_name, [])
            chosen[view_name] += [f for f in wanted if f not in chosen[view_name]]
        owner: dict[str, str] = {}
        for view_name, features in chosen.items():
            for f in features:
                if f in on_demand:
                    raise ValueError(
                        f"service {service}: {f!r} is both a feature of {view_name} and an "
                        "on-demand feature; rename one"
                    )
                if f in owner:
                    raise ValueError(
                        f"service {service}: feature {f!r} comes from both {owner[f]} and "
                        f"{view_name}; take it from one view (view:feature) or rename one"
                    )
                owner[f] = view_name
        return [(views[name], features) for name, features in chosen.items()]

    def on_demand(self, service: str) -> list[OnDemandFeature]:
        """The on-demand features of ``service``, in its order."""
        self.resolve(service)
        names = next(s.features for s in self.services if s.name == service)
        by_name = {f.name: f for f in self.on_demand_features}
        return [by_name[n] for n in names if n in by_name]

    def content_hash(self) -> str:
        """A stable hash of the definitions, recorded in the lineage of what uses them."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


def apply_on_demand(frame: Any, features: Sequence[OnDemandFeature]) -> Any:
    """``frame`` (a DataFrame) with each on-demand feature computed from its row, in order
    (a feature may use an earlier one); a column the frame already has is kept as given.

    Raises:
        DataError: an expression cannot be computed on these rows (naming the feature).
    """
    import numpy as np
    import pandas as pd

    from headway.exceptions import DataError

    out = frame.copy()
    for feature in features:
        if feature.name in out.columns:
            continue
        try:
            numeric = out.apply(_numeric_if_possible)
            with np.errstate(all="ignore"):
                value = numeric.eval(feature.expression, engine="python")
        except Exception as exc:  # pandas raises many kinds for a bad expression
            raise DataError(
                f"on-demand feature {feature.name}: cannot compute {feature.expression!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if feature.type in ("int", "float"):
            value = pd.to_numeric(value, errors="coerce").replace([np.inf, -np.inf], np.nan)
        out[feature.name] = value
    return out


def _numeric_if_possible(column: Any) -> Any:
    """A column of JSON numbers (as a request gives them) as numbers; others unchanged."""
    import pandas as pd

    if column.dtype != object:
        return column
    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError):
        return column


def load_definitions(path: Path) -> FeatureDefinitions:
    """Read and check ``features.yaml``.

    Raises:
        ConfigError: the file is missing, not YAML, or breaks a rule (the message names
            the file, the key and the fix).
    """
    if not path.is_file():
        raise ConfigError(f"{path}: no feature definitions (write {FEATURES_FILENAME})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with entities, feature_views, services")
    try:
        return FeatureDefinitions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
