"""Serving stage: the FastAPI prediction server."""

from __future__ import annotations

from headway.serving.app import ServingSettings, create_app
from headway.serving.model import ServedModel
from headway.serving.protocol import parse_request

__all__ = ["ServedModel", "ServingSettings", "create_app", "parse_request"]
