"""What one server process holds, and how it follows the registry without a restart.

A :class:`ServingState` owns the prediction log (one per process, written by one writer
thread shared by every scorer) and the :class:`~headway.serving.scoring.Scorer` of the
version it serves. When the server serves an alias (``models:/NAME@champion``) it polls the
registry (:meth:`ServingState.follow`, every ``ServingSettings.follow_seconds``): when the
alias has moved (``headway promote``, ``rollback`` or ``approve`` from any process) the new
version is loaded in the background and swapped in at once. Requests already being scored
finish on the version they started on (each holds its scorer), new ones go to the new
version; responses, ``/version``, ``/health/ready`` and the ``headway_model_info`` gauge show
it. A version that fails to load never replaces the working one: the server keeps serving,
reports ``degraded`` with the reason on ``/health/ready``, counts the failure, and tries that
version again only when the alias moves once more.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from headway.registry import ModelRegistry
from headway.serving.metrics import ServingMetrics
from headway.serving.model import ServedModel
from headway.serving.scoring import Scorer

__all__ = ["ServingState"]

logger = logging.getLogger(__name__)

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")


class ServingState:
    """The served version's scorer, the prediction log and the swap machinery."""

    def __init__(
        self,
        settings: Any,
        registry: ModelRegistry,
        metrics: ServingMetrics,
        model: ServedModel,
        *,
        log: Any | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.log = log
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headway-log")
        self.degraded: str | None = None
        self._failed_version: str | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self.scorer = self._scorer(model)
        self._show(model, None)

    def _scorer(self, model: ServedModel) -> Scorer:
        s = self.settings
        return Scorer(
            model,
            self.metrics,
            log=self.log,
            writer=self.writer,
            batching=s.batching,
            max_batch_rows=s.max_batch_rows,
            max_wait_ms=s.max_wait_ms,
        )

    @property
    def model(self) -> ServedModel:
        return self.scorer.model

    def _show(self, model: ServedModel, previous: ServedModel | None) -> None:
        info = self.metrics.model_info
        if previous is not None:
            info.labels(previous.name or "", previous.version or "", previous.uri).set(0)
        info.labels(model.name or "", model.version or "", model.uri).set(1)
        load = self.metrics.load_seconds.labels(model.name or "", model.version or "")
        load.set(model.load_seconds)

    def install(self, model: ServedModel) -> None:
        """Serve ``model`` from now on; the previous scorer finishes what it has started."""
        previous = self.scorer
        self.scorer = self._scorer(model)
        self._show(model, previous.model)
        self.degraded = None
        self._failed_version = None
        logger.info(
            "now serving %s version %s (was %s)", model.name, model.version, previous.model.version
        )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(previous.retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # -- following the registry ---------------------------------------------------------

    async def follow(self) -> None:
        """Poll the alias this server serves and swap to its new version; runs until
        cancelled. Does nothing when the server serves a fixed version."""
        match = _ALIAS_URI.match(self.settings.model_uri)
        if match is None or self.settings.follow_seconds <= 0:
            return
        name, alias = match["name"], match["alias"]
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.follow_seconds)
            try:
                await self.check(name, alias, loop)
            except asyncio.CancelledError:
                raise
            except Exception:  # the registry is unreachable for a moment: keep serving
                logger.exception("checking %s@%s in the registry failed", name, alias)

    async def check(self, name: str, alias: str, loop: asyncio.AbstractEventLoop) -> None:
        """One look at the registry: swap when ``alias`` points at another version."""
        info = await loop.run_in_executor(None, self.registry.version_by_alias, name, alias)
        if info is None or info.version == self.model.version:
            return
        if info.version == self._failed_version:
            return  # already tried; waits for the alias to move again
        uri = f"models:/{name}/{info.version}"
        started = time.perf_counter()
        try:
            model = await loop.run_in_executor(None, ServedModel.load, uri, self.registry)
        except Exception as exc:
            self._failed_version = info.version
            self.degraded = (
                f"{name}@{alias} moved to version {info.version}, which failed to load "
                f"({type(exc).__name__}: {str(exc)[:300]}); still serving version "
                f"{self.model.version}"
            )
            self.metrics.load_failures.labels(name, info.version).inc()
            logger.error("%s", self.degraded)
            return
        logger.info("loaded %s in %.1fs", uri, time.perf_counter() - started)
        self.install(model)

    async def close(self) -> None:
        """Wait for retiring scorers, write what is queued, compact and close the log."""
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.scorer.retire()
        self.writer.shutdown(wait=True)
        if self.log is None:
            return
        try:
            self.log.compact()
        except Exception:  # the segments stay; a later compaction takes them
            logger.exception("compacting the prediction log failed")
        self.log.close()
