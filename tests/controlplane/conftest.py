"""Control-plane databases for the tests: SQLite files and a throwaway PostgreSQL cluster.

``sqlite`` always runs. ``postgresql`` starts a cluster (``initdb`` + ``pg_ctl`` from PATH
or ``/usr/lib/postgresql/*/bin``, as Debian installs them; unix socket only) when those
tools and a driver (``psycopg`` or ``psycopg2``) are installed, and is skipped with the
reason otherwise. As root, the cluster runs as the ``postgres`` user (``initdb`` refuses
root; Debian's ``postgresql`` package creates that user), through ``runuser``.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headway.controlplane import default_url

_PG_LIB = Path("/usr/lib/postgresql")


def _pg_bindir() -> Path | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(pg_ctl).resolve().parent
    candidates = sorted(
        _PG_LIB.glob("*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _runuser() -> str | None:
    # /usr/sbin is not on every PATH (e.g. a CI runner's), though runuser lives there.
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def _pg_driver() -> str | None:
    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect
    return None


class PostgresServer:
    """A cluster in a temporary folder, listening on a unix socket only."""

    def __init__(self, bindir: Path, dialect: str, run_as: str | None, runuser: str | None) -> None:
        self.bindir, self.dialect = bindir, dialect
        self.run_as, self.runuser = run_as, runuser
        # Under /tmp, not pytest's tmp_path: a socket path must stay under ~100 characters,
        # and the 'postgres' user (when running as root) must be able to enter it.
        self.root = Path(tempfile.mkdtemp(prefix="hw-pg-"))
        self.data = self.root / "data"
        self.port = 5432  # names the socket file only; no TCP (listen_addresses='')
        self._names = itertools.count()
        if run_as is not None:
            user = pwd.getpwnam(run_as)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = [self.runuser, "-u", self.run_as, "--"] if self.run_as and self.runuser else []
        # cwd: the 'postgres' user may not be allowed into the directory pytest runs in.
        return subprocess.run(
            [*prefix, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
        )

    def start(self) -> None:
        steps = [
            (
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "headway",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            (
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                f"-k {self.root} -h '' -p {self.port} -F -c fsync=off",
                "-w",
                "-t",
                "60",
                "start",
            ),
        ]
        for step in steps:
            done = self._run(*step)
            if done.returncode != 0:
                log = self.root / "server.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"{Path(step[0]).name} failed ({done.returncode}):\n"
                    f"{done.stdout}{done.stderr}{tail}"
                )

    def url(self, database: str) -> str:
        return f"{self.dialect}://headway@/{database}?host={self.root}&port={self.port}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"audit_{next(self._names)}"
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(f"PostgreSQL not installed: no initdb/pg_ctl on PATH or {_PG_LIB}/*/bin")
    dialect = _pg_driver()
    if dialect is None:
        pytest.skip("no PostgreSQL driver: install 'psycopg[binary]' (or psycopg2) to run it")
    run_as = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = None
        if user is None or user.pw_uid == 0:
            pytest.skip("running as root, and no 'postgres' user to run initdb as")
        run_as = "postgres"
    runuser = _runuser() if run_as else None
    if run_as and runuser is None:
        pytest.skip("running as root, and no runuser (util-linux) to run initdb as 'postgres'")
    server = PostgresServer(bindir, dialect, run_as, runuser)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty control-plane database on each backend."""
    if request.param == "sqlite":
        return default_url(tmp_path / ".headway")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
