"""Executors: where the trials of one Optuna study run.

The study lives in an Optuna storage that every worker opens (a journal file on one machine,
or a database URL for a cluster); each worker pulls trials from it until the trial budget or
the deadline is reached. The process that started the search only watches the storage (to
log trials and show progress) and, at the end, refits the winner itself, so a worker never
has to send a model back.

- :class:`LocalExecutor`: worker processes on this machine (``training.n_workers``, one per
  core by default); with one worker the trials run in a thread of this process.
- :class:`RayExecutor`: Ray tasks, on a local Ray instance or the cluster at
  ``training.ray_address`` (extra ``headway[ray]``).

More executors (Dask, Kubernetes jobs) implement :class:`BaseExecutor`.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from headway._schema_lock import SCHEMA_LOCK
from headway.exceptions import TrainingError
from headway.redact import redact_text, redact_uri

__all__ = [
    "BaseExecutor",
    "LocalExecutor",
    "RayExecutor",
    "RunningSearch",
    "WorkerJob",
    "available_cpus",
    "make_executor",
    "open_storage",
]

JOURNAL_PREFIX = "journal:"


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask, so containers limited by cpuset count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage from ``journal:PATH`` (a journal file) or a database URL.

    Raises:
        TrainingError: the database cannot be opened (the URL shown with its password
            masked).
    """
    if url.startswith(JOURNAL_PREFIX):
        path = url[len(JOURNAL_PREFIX) :]
        # The open()-based lock works on file systems without symlinks (and on NFS).
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with SCHEMA_LOCK:  # Optuna migrates its tables with Alembic on opening
            return optuna.storages.RDBStorage(url)
    except (SQLAlchemyError, ImportError, ValueError, RuntimeError) as exc:
        # SQLAlchemy and the drivers may quote the URL they were given.
        raise TrainingError(
            f"cannot open the Optuna storage {redact_uri(url)}: {redact_text(str(exc))}. "
            "Check training.optuna_storage (or HEADWAY_OPTUNA_STORAGE) and its driver."
        ) from exc


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs: the study to join, the objective and the limits.

    ``objective`` must be picklable (it travels to other processes and machines).
    """

    study_name: str
    storage: str = field(repr=False)  # may hold a password
    objective: Callable[[optuna.Trial], float]
    seed: int
    deadline: float
    threads: int
    n_trials: int


def run_worker(job: WorkerJob, index: int) -> int:
    """Join the study and run trials until the budget or the deadline; return trials run."""
    from threadpoolctl import threadpool_limits

    study = optuna.load_study(
        study_name=job.study_name,
        storage=open_storage(job.storage),
        sampler=optuna.samplers.TPESampler(seed=job.seed + index),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    before = len(study.trials)
    with threadpool_limits(limits=job.threads):
        study.optimize(
            job.objective,
            n_trials=job.n_trials,
            timeout=max(0.0, job.deadline - time.time()),
            catch=(Exception,),
        )
    return len(study.trials) - before


class RunningSearch:
    """Workers under way: poll :meth:`done`, then :meth:`wait` for them."""

    def __init__(self, futures: list[Any], *, done: Callable[[], bool], wait: Callable[[], None]):
        self.futures = futures
        self._done = done
        self._wait = wait

    def done(self) -> bool:
        return self._done()

    def wait(self) -> None:
        """Block until every worker has stopped.

        Raises:
            TrainingError: a worker died (killed, out of memory) rather than finishing.
        """
        self._wait()


class BaseExecutor(ABC):
    """Runs :func:`run_worker` ``n_workers`` times, in parallel, somewhere."""

    name: str = "base"

    def __init__(self, n_workers: int) -> None:
        if n_workers < 1:
            raise TrainingError(f"training.n_workers must be at least 1, got {n_workers}")
        self.n_workers = n_workers

    @property
    def threads_per_worker(self) -> int:
        """Threads each trial may use, so that the workers together fill the machine."""
        return max(1, available_cpus() // self.n_workers)

    @property
    def shares_local_files(self) -> bool:
        """Whether workers see this machine's files (a journal file storage is enough)."""
        return True

    @abstractmethod
    def submit(self, job: WorkerJob) -> RunningSearch:
        """Start the workers and return at once."""


def _wait_futures(futures: list[Future[int]]) -> None:
    for future in futures:
        try:
            future.result()
        except Exception as exc:
            raise TrainingError(
                f"a search worker stopped abnormally: {type(exc).__name__}: {exc}. "
                "If it ran out of memory, lower training.n_workers in headway.yaml."
            ) from exc


class LocalExecutor(BaseExecutor):
    """Worker processes on this machine; one worker runs in a thread of this process."""

    name = "local"

    def submit(self, job: WorkerJob) -> RunningSearch:
        futures: list[Future[int]] = []
        if self.n_workers == 1:
            future: Future[int] = Future()

            def work() -> None:
                try:
                    future.set_result(run_worker(job, 0))
                except BaseException as exc:  # handed to wait()
                    future.set_exception(exc)

            threading.Thread(target=work, name="headway-search", daemon=True).start()
            futures.append(future)
        else:
            from joblib.externals.loky import get_reusable_executor

            # Worker processes are kept for a while, so that the next search (or the next
            # test) does not pay for starting Python and importing the libraries again.
            pool = get_reusable_executor(max_workers=self.n_workers, timeout=300)
            futures = [pool.submit(run_worker, job, i) for i in range(self.n_workers)]
        return RunningSearch(
            futures,
            done=lambda: all(f.done() for f in futures),
            wait=lambda: _wait_futures(futures),
        )


class RayExecutor(BaseExecutor):
    """Ray tasks: ``ray.init()`` locally, or the cluster at ``address``."""

    name = "ray"

    def __init__(self, n_workers: int, address: str | None = None) -> None:
        super().__init__(n_workers)
        if importlib.util.find_spec("ray") is None:
            raise TrainingError("training.executor 'ray' needs Ray: pip install 'headway[ray]'")
        self.address = address

    @property
    def shares_local_files(self) -> bool:
        return self.address in (None, "local")

    @property
    def threads_per_worker(self) -> int:
        if self.shares_local_files:
            return super().threads_per_worker
        return 1

    def submit(self, job: WorkerJob) -> RunningSearch:
        import ray

        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        remote = ray.remote(num_cpus=job.threads)(run_worker)
        refs = [remote.remote(job, i) for i in range(self.n_workers)]

        def done() -> bool:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            return len(ready) == len(refs)

        def wait() -> None:
            try:
                ray.get(refs)
            except Exception as exc:
                raise TrainingError(
                    f"a Ray search worker failed: {type(exc).__name__}: {exc}"
                ) from exc

        return RunningSearch(refs, done=done, wait=wait)


def make_executor(name: str, n_workers: int, *, ray_address: str | None = None) -> BaseExecutor:
    """The executor named by ``training.executor``.

    Raises:
        TrainingError: an unknown executor, or Ray not installed.
    """
    if name == "local":
        return LocalExecutor(n_workers)
    if name == "ray":
        return RayExecutor(n_workers, ray_address)
    raise TrainingError(f"unknown training.executor {name!r}; choose 'local' or 'ray'")
