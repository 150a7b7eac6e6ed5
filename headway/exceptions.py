"""The one error tree of headway.

Every error a user can cause derives from :class:`HeadwayError`, and every message
names the bad value (file, key, column, field), what was expected, and how to fix it.
Third-party errors are translated at the boundary with ``raise ... from exc``.

::

    HeadwayError
    ├── ConfigError          headway.yaml or settings are invalid
    ├── ProjectNotFoundError the project directory or its headway.yaml does not exist
    ├── DataError            the data cannot be read or fails validation
    ├── TrainingError        no model could be trained within the budget
    ├── RegistryError        the model registry refused or lacks something
    │   └── ModelNotFoundError  no model version under that name, version or alias
    └── ServingError         the server cannot start or a request cannot be served
        └── InvalidRequestError the request body is malformed (HTTP 400)
            └── RequestTooLargeError the request body is over the size limit (HTTP 413)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GovernanceError",
    "HeadwayError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "PredictionLogError",
    "ProjectNotFoundError",
    "RegistryError",
    "RequestTooLargeError",
    "ServingError",
    "TrainingError",
]


class HeadwayError(Exception):
    """Root of all errors raised by headway on purpose."""


class ConfigError(HeadwayError):
    """The project file or a setting is invalid."""


class ProjectNotFoundError(HeadwayError):
    """The project directory or its ``headway.yaml`` does not exist."""


class DataError(HeadwayError):
    """The data cannot be read, or it fails validation."""


class TrainingError(HeadwayError):
    """No model could be trained."""


class RegistryError(HeadwayError):
    """The model registry refused an operation or lacks an entry."""


class ModelNotFoundError(RegistryError):
    """No model version exists under the given name, version or alias."""


class GovernanceError(RegistryError):
    """A governance action is not allowed in the version's state (promoting an unblessed
    version without ``--force``, approving a rejected one, rolling back with no previous
    champion, ...); nothing was changed."""


class ServingError(HeadwayError):
    """The prediction server cannot start or cannot serve a request."""


class InvalidRequestError(ServingError):
    """A prediction request is malformed; the server answers 400."""


class PredictionLogError(ServingError):
    """The prediction log cannot be written or read; the server answers 503 rather than
    give a prediction that is not logged."""


class RequestTooLargeError(InvalidRequestError):
    """A prediction request's body is over the server's size limit; the server answers 413."""
