"""Reading ``headway.yaml``: YAML in, a validated :class:`ProjectConfig` out, and every
problem named by its key with a 'did you mean' hint.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from headway.config.project import ProjectConfig
from headway.exceptions import ConfigError, ProjectNotFoundError
from headway.redact import redact_text, redact_uri

__all__ = ["load_config"]


def _describe_error(error: Any, known_keys: dict[tuple[str | int, ...], list[str]]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, name = loc[:-1], str(loc[-1])
        candidates = known_keys.get(parent, [])
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f" Did you mean '{'.'.join([*map(str, parent), close[0]])}'?" if close else ""
        allowed = f" Allowed keys here: {', '.join(candidates)}." if candidates else ""
        return f"unknown key '{key}'.{hint}{allowed} Remove or rename it."
    if kind == "missing":
        return f"required key '{key}' is missing. Add it (see docs/configuration.md)."
    given = error.get("input")
    if isinstance(given, str):
        shown = repr(redact_text(redact_uri(given)))  # a bad value may be a URI
    elif isinstance(given, dict | list):
        shown = type(given).__name__
    else:
        shown = repr(given)
    return f"key '{key}': {error['msg']} (got {shown}). Fix the value in headway.yaml."


def _known_keys() -> dict[tuple[str | int, ...], list[str]]:
    """Allowed keys at each nesting level, for 'did you mean' hints."""
    out: dict[tuple[str | int, ...], list[str]] = {}

    def walk(model: type[BaseModel], prefix: tuple[str | int, ...]) -> None:
        out[prefix] = list(model.model_fields)
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, (*prefix, name))

    walk(ProjectConfig, ())
    return out


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a ``headway.yaml``.

    Raises:
        ProjectNotFoundError: the file does not exist.
        ConfigError: the YAML is malformed or a key is unknown, missing or mistyped;
            the message lists every problem with its key.
    """
    path = Path(path)
    if not path.is_file():
        raise ProjectNotFoundError(
            f"{path}: no such project file. Create one with 'headway init DIR --example churn'."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (name, task, data, ...), got {type(raw).__name__}."
        )
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        known = _known_keys()
        problems = "\n".join(f"  - {_describe_error(err, known)}" for err in exc.errors())
        raise ConfigError(f"{path}: invalid project file:\n{problems}") from exc
