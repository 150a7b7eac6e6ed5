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

The same poll reads the model's deployment record in the control plane
(:mod:`headway.controlplane.deployments`, set by ``headway traffic set``): a candidate
version and a mode. ``shadow``: the candidate also scores every request in the background
and its answers are logged with route ``shadow`` under the champion row's id plus
``-shadow`` (a label sent for the champion's answer scores the candidate's too); the champion
answers. ``canary``: each
request goes to the candidate with probability ``weight``. ``ab``: each row goes to the
candidate when a hash of its ``entity_column`` value falls under ``weight``, so that an
entity always meets the same version (rows of one request may be split between the two,
and are answered in their order). Answers of the candidate are logged with route
``canary``. A candidate that fails to load leaves the routing as it was and the server
``degraded`` with the reason.

**Monitoring gauges.** The same poll reads, every few seconds, the latest window ``headway
monitor`` stored for the model in the control plane and publishes its verdicts (drift per
column, dataset and output drift, realised and estimated performance with intervals) as
gauges (:mod:`headway.serving.gauges`). Every half minute it also reads the model's audit
log and publishes its delivery metrics (deployments per day, lead time, change failure
ratio, mean time to recovery, model age) as ``headway_delivery_*`` gauges.

**Fallback.** The version the champion replaced (its ``headway.previous_champion`` tag) is
loaded in the background as a fallback. When the model raises while scoring a request, or
takes longer than ``ServingSettings.timeout_ms``, the request is answered by the fallback
instead, counted in ``headway_fallbacks_total``, and ``/health/ready`` reports ``degraded``
with the reason. A request the fallback cannot answer either fails as it would have. Bad
input (a 4xx) and an unwritable prediction log are never a reason to fall back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.concurrency import run_in_threadpool

from headway.exceptions import InvalidRequestError, PredictionLogError
from headway.predictions.base import SHADOW_SUFFIX
from headway.registry import ModelRegistry, layout
from headway.serving.gauges import DELIVERY_WINDOW_DAYS
from headway.serving.metrics import ServingMetrics
from headway.serving.model import ServedModel
from headway.serving.protocol import ParsedRequest
from headway.serving.routing import in_candidate, merge, subset
from headway.serving.scoring import Scorer

__all__ = ["ServingState"]

logger = logging.getLogger(__name__)

# Seconds between two looks at the stored monitoring windows.
_MONITOR_SECONDS = 10.0
# Seconds between two reads of the audit log for the delivery gauges.
_DELIVERY_SECONDS = 30.0
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
        # The deployment record being applied (see headway traffic set).
        self.candidate: Scorer | None = None
        self.mode = "single"
        self.weight = 0.0
        self.entity_column: str | None = None
        self.revision = 0
        self._failed_revision: int | None = None
        self._shadows: set[asyncio.Task[Any]] = set()
        self.fallback: Scorer | None = None
        self._deployments: Any | None = None  # the control-plane store, once opened
        self._monitoring: Any | None = None  # the stored monitoring windows, once opened
        self._monitoring_checked = 0.0
        self._audit: Any | None = None  # the audit log, once opened
        self._delivery_checked = 0.0
        self._fallback_for: str | None = None  # the champion version it backs up
        self.features = _feature_filler(settings)  # serving by entity keys, or None

    def _scorer(self, model: ServedModel, route: str = "champion") -> Scorer:
        s = self.settings
        return Scorer(
            model,
            self.metrics,
            log=self.log,
            writer=self.writer,
            route=route,
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
        self._retire_later(previous)

    def _retire_later(self, scorer: Scorer) -> None:
        """Let ``scorer`` finish what it accepted, then stop it (in the background)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving (a test, a command): nothing is in flight
            return
        task = loop.create_task(scorer.retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # -- following the registry ---------------------------------------------------------

    async def start(self) -> None:
        """Apply the deployment record before the first request (a server restarted in the
        middle of a canary or shadow routes as the record says at once); an unreachable
        control plane is logged, and the follower retries."""
        if self.settings.control_db_url is None or not self.model.name:
            return
        try:
            await self.check_deployment(self.model.name, asyncio.get_running_loop())
        except Exception:
            logger.exception("reading the deployment record at start failed")

    async def compact_periodically(self) -> None:
        """Compact the prediction log every ``compact_seconds`` (closed segments become
        Parquet parts; the S3 spool is uploaded), in a worker thread so that answers and
        appends go on; runs until cancelled. A failed compaction leaves the segments for
        the next one."""
        seconds = self.settings.compact_seconds
        if self.log is None or not seconds:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(seconds)
            try:
                await loop.run_in_executor(None, self.log.compact)
                self.metrics.compactions.labels("ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.metrics.compactions.labels("failed").inc()
                logger.exception("compacting the prediction log failed; retried later")

    async def follow(self) -> None:
        """Poll the alias this server serves and swap to its new version; runs until
        cancelled. Does nothing when the server serves a fixed version."""
        if self.settings.follow_seconds <= 0:
            return
        match = _ALIAS_URI.match(self.settings.model_uri)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.follow_seconds)
            try:
                await self.check_fallback(loop)
                if match is not None:
                    await self.check(match["name"], match["alias"], loop)
                if self.settings.control_db_url is not None and self.model.name:
                    await self.check_deployment(self.model.name, loop)
                    await self.check_monitoring(self.model.name, loop)
                    await self.check_delivery(self.model.name, loop)
            except asyncio.CancelledError:
                raise
            except Exception:  # the registry is unreachable for a moment: keep serving
                logger.exception("checking %s in the registry failed", self.settings.model_uri)

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

    async def check_fallback(self, loop: asyncio.AbstractEventLoop) -> None:
        """Load the served version's previous champion as the fallback, once per version."""
        model = self.model
        if self.registry is None or not model.name or self._fallback_for == model.version:
            return
        self._fallback_for = model.version
        info = await loop.run_in_executor(
            None, self.registry.get_version, model.name, str(model.version)
        )
        previous = info.tags.get(layout.PREVIOUS_CHAMPION.name)
        if not previous or previous == model.version:
            self.fallback = None
            return
        uri = f"models:/{model.name}/{previous}"
        try:
            loaded = await loop.run_in_executor(None, ServedModel.load, uri, self.registry)
        except Exception as exc:  # no fallback, but the champion serves on
            self.fallback = None
            logger.warning("fallback %s did not load: %s", uri, type(exc).__name__)
            return
        self.fallback = self._scorer(loaded)
        logger.info("fallback: %s", uri)

    async def _guarded(self, scorer: Scorer, parsed: ParsedRequest, explain: int) -> Any:
        """``scorer``'s answer, or the fallback's when the model fails or is too slow."""
        timeout = self.settings.timeout_ms / 1000.0 if self.settings.timeout_ms else None
        try:
            if timeout is None:
                return scorer, await scorer.predict(parsed, explain=explain)
            return scorer, await asyncio.wait_for(scorer.predict(parsed, explain=explain), timeout)
        except (InvalidRequestError, PredictionLogError):
            raise
        except (TimeoutError, Exception) as exc:
            fallback = self.fallback
            if fallback is None or fallback is scorer:
                raise
            why = (
                f"took longer than {self.settings.timeout_ms:g} ms"
                if isinstance(exc, asyncio.TimeoutError | TimeoutError)
                else f"raised {type(exc).__name__}"
            )
            self.metrics.fallbacks.labels(scorer.model.version or "", why.split()[0]).inc()
            self.degraded = (
                f"version {scorer.model.version} {why}; answered by the fallback, version "
                f"{fallback.model.version}"
            )
            logger.warning("%s", self.degraded)
            return fallback, await fallback.predict(parsed, explain=explain)

    async def check_monitoring(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        """Publish the latest window ``headway monitor`` stored for the model as gauges
        (looked up every ``_MONITOR_SECONDS``: windows are minutes to hours long)."""
        now = time.monotonic()
        if now - self._monitoring_checked < _MONITOR_SECONDS:
            return
        self._monitoring_checked = now
        from headway.controlplane.monitoring import MonitoringStore

        def read() -> Any:
            if self._monitoring is None:
                self._monitoring = MonitoringStore(self.settings.control_db_url or "")
            return self._monitoring.latest(name)

        window = await loop.run_in_executor(None, read)
        if window is not None:
            self.metrics.monitoring.publish(window.id, window.window_end.timestamp(), window.report)

    async def check_delivery(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        """Publish the model's delivery metrics from the audit log as gauges (computed every
        ``_DELIVERY_SECONDS``: deployments are hours to days apart)."""
        now = time.monotonic()
        if now - self._delivery_checked < _DELIVERY_SECONDS:
            return
        self._delivery_checked = now
        from headway.controlplane.audit import AuditLog
        from headway.controlplane.delivery import read_delivery_metrics

        def read() -> Any:
            if self._audit is None:
                self._audit = AuditLog(self.settings.control_db_url or "")
            return read_delivery_metrics(self._audit, model=name, window_days=DELIVERY_WINDOW_DAYS)

        self.metrics.monitoring.delivery.publish(await loop.run_in_executor(None, read))

    async def check_deployment(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        """One look at the deployment record: apply it when its revision has changed."""
        from headway.controlplane.deployments import DeploymentStore

        def read() -> Any:
            # Opened once (opening checks the schema), then one query per look.
            if self._deployments is None:
                self._deployments = DeploymentStore(self.settings.control_db_url)
            return self._deployments.get(name)

        record = await loop.run_in_executor(None, read)
        if record.revision in (self.revision, self._failed_revision):
            return
        candidate = self.candidate
        route = "shadow" if record.mode == "shadow" else "canary"
        if record.mode == "single" or record.candidate is None:
            candidate = None
        elif (
            candidate is None
            or candidate.model.version != str(record.candidate)
            or candidate.route != route
        ):
            uri = f"models:/{name}/{record.candidate}"
            try:
                model = await loop.run_in_executor(None, ServedModel.load, uri, self.registry)
            except Exception as exc:
                self._failed_revision = record.revision
                self.degraded = (
                    f"the deployment record (revision {record.revision}) names candidate "
                    f"version {record.candidate}, which failed to load ({type(exc).__name__}: "
                    f"{str(exc)[:300]}); routing stays {self.mode}"
                )
                self.metrics.load_failures.labels(name, str(record.candidate)).inc()
                logger.error("%s", self.degraded)
                return
            candidate = self._scorer(model, route)
        self.apply(record.mode, candidate, record.weight, record.entity_column, record.revision)

    def apply(
        self,
        mode: str,
        candidate: Scorer | None,
        weight: float,
        entity_column: str | None,
        revision: int,
    ) -> None:
        """Route from now on as the deployment record says."""
        previous = self.candidate
        self.candidate = candidate if mode != "single" else None
        self.mode = mode if self.candidate is not None else "single"
        self.weight = float(weight)
        self.entity_column = entity_column
        self.revision = revision
        self._failed_revision = None
        self.metrics.traffic_weight.labels(self.model.name or "").set(
            self.weight if self.mode in ("canary", "ab") else 0.0
        )
        logger.info(
            "routing: %s, candidate %s, weight %s",
            self.mode,
            (self.candidate.model.version if self.candidate else None),
            self.weight,
        )
        if previous is not None and previous is not self.candidate:
            self._retire_later(previous)

    # -- routing ------------------------------------------------------------------------

    async def predict(self, parsed: ParsedRequest, *, explain: int = 0) -> dict[str, Any]:
        """Answer one request as the deployment record routes it; the answer names the
        version (``model``) and, when a candidate takes part, each row's route."""
        champion, candidate, mode = self.scorer, self.candidate, self.mode
        if self.features is not None:
            parsed = await self._filled(parsed, champion.model)
        if candidate is None or mode == "single":
            answered, result = await self._guarded(champion, parsed, explain)
            return self._named(result, answered)
        if mode == "shadow":
            answered, result = await self._guarded(champion, parsed, explain)
            twins = [f"{i}{SHADOW_SUFFIX}" for i in result.get("prediction_ids") or []]
            task = asyncio.get_running_loop().create_task(
                self._shadow(candidate, parsed, twins or None)
            )
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
            return self._named(result, answered)
        if mode == "canary":
            chosen = candidate if random.random() < self.weight else champion
            answered, result = await self._guarded(chosen, parsed, explain)
            result = self._named(result, answered)
            result["routes"] = [answered.route] * parsed.n_rows
            return result
        return await self._ab(parsed, champion, candidate, explain)

    async def predict_version(
        self, parsed: ParsedRequest, version: str, *, explain: int = 0
    ) -> dict[str, Any] | None:
        """Answer one request with one served version (the champion or the candidate),
        whatever the traffic split; ``None`` when ``version`` is not served here. No
        fallback: the caller asked for this version."""
        scorer = next(
            (s for s in (self.scorer, self.candidate) if s and s.model.version == version), None
        )
        if scorer is None:
            return None
        if self.features is not None:
            parsed = await self._filled(parsed, scorer.model)
        return self._named(await scorer.predict(parsed, explain=explain), scorer)

    async def _filled(self, parsed: ParsedRequest, model: ServedModel) -> ParsedRequest:
        """``parsed`` with its features filled from the online store: in place for an
        in-process store (SQLite, well under a millisecond), in a worker thread for one
        across the network (Redis), so that a round trip does not hold up the event loop."""
        filler = self.features
        assert filler is not None
        if filler.store.remote:
            return await run_in_threadpool(filler.fill, parsed, model.never_null)
        return filler.fill(parsed, model.never_null)

    def _named(self, result: dict[str, Any], scorer: Scorer) -> dict[str, Any]:
        result["model"] = scorer.model_doc
        self.metrics.routed.labels(
            scorer.model.name or "", scorer.model.version or "", scorer.route
        ).inc()
        return result

    async def _shadow(
        self, candidate: Scorer, parsed: ParsedRequest, ids: list[str] | None = None
    ) -> None:
        """Score a request with the candidate in the background; its rows are logged under
        the champion's ids plus :data:`~headway.predictions.SHADOW_SUFFIX`, so that the
        labels sent for the champion's answers score the candidate's too."""
        try:
            await candidate.predict(parsed, ids=ids)
            self.metrics.routed.labels(
                candidate.model.name or "", candidate.model.version or "", "shadow"
            ).inc()
        except Exception as exc:  # the shadow never affects an answer; it is counted
            self.metrics.shadow_errors.labels(candidate.model.version or "").inc()
            logger.warning("shadow scoring failed: %s", type(exc).__name__)

    async def _ab(
        self, parsed: ParsedRequest, champion: Scorer, candidate: Scorer, explain: int
    ) -> dict[str, Any]:
        chosen = in_candidate(parsed, self.entity_column or "", self.weight)
        if all(chosen) or not any(chosen):
            scorer = candidate if chosen and chosen[0] else champion
            answered, result = await self._guarded(scorer, parsed, explain)
            result = self._named(result, answered)
            result["routes"] = [answered.route] * parsed.n_rows
            return result
        rows = {
            False: [i for i, c in enumerate(chosen) if not c],
            True: [i for i, c in enumerate(chosen) if c],
        }
        answers = await asyncio.gather(
            champion.predict(subset(parsed, rows[False]), explain=explain),
            candidate.predict(subset(parsed, rows[True]), explain=explain),
        )
        merged = merge(parsed.n_rows, [(rows[False], answers[0]), (rows[True], answers[1])])
        self._named(merged, champion)
        self.metrics.routed.labels(
            candidate.model.name or "", candidate.model.version or "", candidate.route
        ).inc()
        merged["routes"] = [candidate.route if c else champion.route for c in chosen]
        merged["versions"] = [
            candidate.model.version if c else champion.model.version for c in chosen
        ]
        return merged

    async def close(self) -> None:
        """Wait for retiring scorers, write what is queued, compact and close the log."""
        if self._shadows:
            await asyncio.gather(*self._shadows, return_exceptions=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.scorer.retire()
        if self.candidate is not None:
            await self.candidate.retire()
        if self.fallback is not None:
            await self.fallback.retire()
        if self.features is not None:
            self.features.store.close()
        if self._deployments is not None:
            self._deployments.close()
        if self._monitoring is not None:
            self._monitoring.close()
        if self._audit is not None:
            self._audit.close()
        self.writer.shutdown(wait=True)
        if self.log is None:
            return
        try:
            self.log.compact()
        except Exception:  # the segments stay; a later compaction takes them
            logger.exception("compacting the prediction log failed")
        self.log.close()


def _feature_filler(settings: Any) -> Any | None:
    """The :class:`~headway.serving.features.FeatureFiller` of ``settings`` (the project's
    feature service and online store), or ``None`` when the model takes full rows only."""
    service = getattr(settings, "feature_service", None)
    if not service or not settings.features_definitions:
        return None
    from pathlib import Path

    from headway.features.definitions import load_definitions
    from headway.features.online import open_online_store
    from headway.serving.features import FeatureFiller

    definitions = load_definitions(Path(settings.features_definitions))
    default = Path(settings.online_store_path or "online.db")
    return FeatureFiller(
        definitions, service, open_online_store(settings.online_store_url, default)
    )
