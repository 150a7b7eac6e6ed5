"""What every control-plane store shares: one database, opened (and upgraded) once.

:class:`ControlPlaneStore` parses the URL, creates the engine (and the write engine that
takes SQLite's write lock at ``BEGIN``), upgrades the schema in place on open, masks the
password in :attr:`~ControlPlaneStore.url`, and closes as a context manager. The audit log,
the deployment records and the monitoring windows are its subclasses.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from headway.controlplane.engine import create_engine, parse_url, safe_url, write_engine
from headway.controlplane.migrate import open_schema

if TYPE_CHECKING:
    from headway.project import Project

__all__ = ["ControlPlaneStore", "check_text"]


def check_text(key: str, value: object, limit: int) -> str:
    """``value`` as a stored name: a non-empty string of at most ``limit`` characters.

    Raises:
        ValueError: it is not; the message names ``key``.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{key} {value[:40]!r}... is longer than {limit} characters")
    return value


class ControlPlaneStore:
    """A store in the control-plane database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///DIR/.headway/control.db`` (see
            :func:`~headway.controlplane.default_url`) or ``postgresql+psycopg://user@host/db``.

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: the database cannot be reached or upgraded, it is not a headway
            control-plane database, or it was written by a newer headway (a schema
            version or migration revision this one does not know).
    """

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        self._url = parsed
        self._engine = create_engine(parsed)
        # Writes take the SQLite write lock at BEGIN (see write_engine).
        self._write_engine = write_engine(self._engine)
        try:
            open_schema(self._engine, shown_url=self.url)
        except BaseException:
            self._engine.dispose()
            raise

    @classmethod
    def for_project(cls, project: Project, *, url: str | None = None) -> Self:
        """The store of a project: ``url`` when given, else the project's control-plane
        database (``HEADWAY_CONTROL_DB_URL``, ``control_plane.url``,
        ``DIR/.headway/control.db``).

        Raises:
            ConfigError: see the class.
            HeadwayError: see the class.
        """
        return cls(url or project.control_db_url)

    @property
    def url(self) -> str:
        """The database URL, with any password hidden."""
        return safe_url(self._url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections; safe to call more than once."""
        self._engine.dispose()
