"""Stores opened for the first time from many threads at once.

MLflow's SQL stores and headway's control plane both create their tables with Alembic,
whose migration context is process-wide: without headway's schema lock, threads opening
new stores at the same moment break each other's migrations ("no such table",
``KeyError: 'config'``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from headway.controlplane.engine import create_engine, parse_url
from headway.controlplane.migrate import open_schema
from headway.controlplane.schema import SCHEMA_VERSION
from headway.registry import ModelRegistry

THREADS = 6
ROUNDS = 3


def _open_all_at_once(root: Path) -> tuple[list[str], dict[int, str]]:
    """Half the threads open a new MLflow store, half a new control plane, all at once."""
    errors: list[str] = []
    experiments: dict[int, str] = {}
    start = threading.Barrier(THREADS)

    def open_one(i: int) -> None:
        try:
            start.wait(timeout=30)
            if i % 2:
                registry = ModelRegistry(f"sqlite:///{root}/mlflow-{i}.db")
                experiments[i] = registry.ensure_experiment(f"exp-{i}")
            else:
                url = f"sqlite:///{root}/control-{i}.db"
                open_schema(create_engine(parse_url(url)), shown_url=url)
        except BaseException as exc:  # reported by the main thread
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors, experiments


def test_new_stores_opened_from_many_threads_at_once_are_all_complete(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        root = tmp_path / f"round-{round_}"
        root.mkdir()
        errors, experiments = _open_all_at_once(root)
        assert errors == []
        assert sorted(experiments) == list(range(1, THREADS, 2))
        for i in range(1, THREADS, 2):  # each store is whole: its experiment reads back
            registry = ModelRegistry(f"sqlite:///{root}/mlflow-{i}.db")
            assert registry.client.get_experiment(experiments[i]).name == f"exp-{i}"
        for i in range(0, THREADS, 2):
            url = f"sqlite:///{root}/control-{i}.db"
            engine = create_engine(parse_url(url))
            assert open_schema(engine, shown_url=url) == open_schema(engine, shown_url=url)
            with engine.connect() as conn:
                stored = conn.exec_driver_sql(
                    "SELECT value FROM headway_meta WHERE key = 'schema_version'"
                ).scalar()
            engine.dispose()
            assert int(stored) == SCHEMA_VERSION
