"""From a parsed request to logged predictions: the fast path, micro-batching and the log.

A clean request (:mod:`headway.serving.fastcheck`) of a model with a compiled scorer
(:mod:`headway.serving.fastpath`) never touches pandas. Clean requests that arrive while
the previous batch is being logged are scored together in one call (adaptive
micro-batching: a batch is whatever is waiting when the scorer is free, up to
``max_batch_rows``; with ``max_wait_ms`` > 0 the scorer also waits that long for more).
Every answered row is appended to the prediction log before its response leaves: the
append of one batch runs on a single writer thread while the next batch is scored, and a
request is answered only once its rows are written. A log that cannot be written fails the
request (503): an answer nobody can find later is not given.

Requests that are not clean (a warning to report, an error to name, explanations asked for)
take the full path, one at a time, through :meth:`ServedModel.predict`, and are logged the
same way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from headway.exceptions import PredictionLogError
from headway.predictions.base import new_ids
from headway.serving.fastcheck import FastChecker, compile_checks
from headway.serving.metrics import ServingMetrics, observe_many
from headway.serving.model import ServedModel
from headway.serving.protocol import ParsedRequest

__all__ = ["Scorer", "prediction_records"]

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    columns: dict[str, np.ndarray]
    raw: Mapping[str, Sequence[Any]]
    n_rows: int
    started: float
    future: asyncio.Future[dict[str, Any]] = field(repr=False)
    ids: list[str] | None = None


def _plain(value: Any) -> Any:
    """A JSON-able Python value of a request cell (NumPy scalars unwrapped, NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def prediction_records(
    ids: Sequence[str],
    inputs: Mapping[str, Sequence[Any]],
    names: Sequence[str],
    result: Mapping[str, Any],
    *,
    model: tuple[str, str],
    route: str,
    latency_ms: float,
) -> list[Any]:
    """The prediction log's records of one scored batch (the server's and ``headway
    predict``'s): row ``i`` has id ``ids[i]``, the cells ``inputs[c][i]`` of the columns
    ``names`` and the outputs ``result["predictions"][i]`` (and ``probabilities``).

    Cells are logged as they came: the log writes NaN as null and NumPy scalars as numbers.
    Each row's inputs are built by ``zip``, not cell by cell.
    """
    from headway.predictions import PredictionRecord

    now = datetime.now(UTC)
    rows: Any = zip(*(inputs[c] for c in names), strict=True) if names else ((),) * len(ids)
    predictions = result["predictions"]
    probabilities = result.get("probabilities")
    records = []
    for i, (prediction_id, row) in enumerate(zip(ids, rows, strict=True)):
        outputs: dict[str, Any] = {"prediction": _plain(predictions[i])}
        if probabilities is not None:
            outputs["probability"] = probabilities[i]
        records.append(
            PredictionRecord(
                prediction_id=prediction_id,
                timestamp=now,
                model_name=model[0],
                model_version=model[1],
                route=route,
                inputs=dict(zip(names, row, strict=True)),
                outputs=outputs,
                latency_ms=latency_ms,
            )
        )
    return records


class Scorer:
    """Scores requests for one served model and logs every answered row."""

    def __init__(
        self,
        model: ServedModel,
        metrics: ServingMetrics,
        *,
        log: Any | None = None,
        writer: ThreadPoolExecutor | None = None,
        route: str = "champion",
        batching: bool = True,
        max_batch_rows: int = 256,
        max_wait_ms: float = 0.0,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.log = log
        self.route = route
        self.batching = batching
        self.max_batch_rows = max_batch_rows
        self.max_wait = max_wait_ms / 1000.0
        self.checker: FastChecker = compile_checks(model.types, model.schema)
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Task[None]] = set()
        self._collecting = False  # a batch taken from the queue, not yet scored
        # One writer thread per log: appends of every scorer of the process are serialised.
        self._writer = writer or ThreadPoolExecutor(1, thread_name_prefix="headway-log")
        self._labels = (model.name or "", model.version or "")
        self._predicted = metrics.predicted.labels(*self._labels)

    # -- requests -----------------------------------------------------------------------

    async def predict(
        self, parsed: ParsedRequest, *, explain: int = 0, ids: list[str] | None = None
    ) -> dict[str, Any]:
        """The response body of one request (predictions, ids, warnings), once logged.

        ``ids``: the prediction ids to log the rows under (new random ones by default); a
        shadow scorer logs under the champion's ids plus a suffix.

        Raises:
            InvalidRequestError: see :meth:`ServedModel.predict`.
            PredictionLogError: the prediction log cannot be written.
        """
        started = time.perf_counter()
        clean = None
        if parsed.columns is not None and not explain:
            clean = self.checker.clean(parsed.columns, parsed.n_rows)
        if clean is None:
            frame = parsed.frame()
            result = await run_in_threadpool(self.model.predict, frame, explain=explain)
            self._observe(result)
            raw = {str(c): frame[c].tolist() for c in frame.columns}
            result["prediction_ids"] = await self._logged(raw, len(frame), result, started, ids)
            return result
        assert parsed.columns is not None
        if not self.batching:
            result = self.model.predict_clean(clean)
            self.metrics.batch_rows.observe(parsed.n_rows)
            self._observe(result)
            result["prediction_ids"] = await self._logged(
                parsed.columns, parsed.n_rows, result, started, ids
            )
            return result
        loop = asyncio.get_running_loop()
        pending = _Pending(clean, parsed.columns, parsed.n_rows, started, loop.create_future(), ids)
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait(pending)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        return await pending.future

    # -- batching -----------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            self._collecting = True
            # One turn of the event loop lets requests that were already read join.
            await asyncio.sleep(0)
            deadline = time.perf_counter() + self.max_wait
            rows = batch[0].n_rows
            while rows < self.max_batch_rows:
                if queue.empty():
                    if time.perf_counter() >= deadline:
                        break
                    await asyncio.sleep(0.0005)
                    continue
                item = queue.get_nowait()
                batch.append(item)
                rows += item.n_rows
            self._score(batch, rows)
            self._collecting = False

    def _score(self, batch: list[_Pending], rows: int) -> None:
        try:
            if len(batch) == 1:
                columns = batch[0].columns
            else:
                columns = {
                    name: np.concatenate([p.columns[name] for p in batch])
                    for name in batch[0].columns
                }
            result = self.model.predict_clean(columns)
        except Exception as exc:  # every waiting request learns of it
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self.metrics.batch_rows.observe(rows)
        self._observe(result)
        pieces: list[dict[str, Any]] = []
        offset = 0
        for p in batch:
            piece = {k: v[offset : offset + p.n_rows] for k, v in result.items()}
            offset += p.n_rows
            pieces.append(piece)
        task = asyncio.get_running_loop().create_task(self._finish(batch, pieces))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, batch: list[_Pending], pieces: list[dict[str, Any]]) -> None:
        records: list[Any] = []
        ids: list[list[str]] = []
        for p, piece in zip(batch, pieces, strict=True):
            made, rows = self._records(p.raw, p.n_rows, piece, p.started, p.ids)
            records.extend(made)
            ids.append(rows)
        try:
            await self._append(records)
        except PredictionLogError as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for p, piece, row_ids in zip(batch, pieces, ids, strict=True):
            if not p.future.done():
                piece["prediction_ids"] = row_ids
                p.future.set_result(piece)

    def _observe(self, result: Mapping[str, Any]) -> None:
        """Predicted values into the histogram (see :class:`ServingMetrics`)."""
        probabilities = result.get("probabilities")
        if probabilities is None:
            values = result["predictions"]
        elif probabilities and isinstance(probabilities[0], dict):
            values = [max(p.values()) for p in probabilities]
        else:
            values = probabilities
        observe_many(self._predicted, values)

    # -- the log ------------------------------------------------------------------------

    async def _logged(
        self,
        raw: Mapping[str, Sequence[Any]],
        n_rows: int,
        result: dict[str, Any],
        started: float,
        given: list[str] | None = None,
    ) -> list[str]:
        records, ids = self._records(raw, n_rows, result, started, given)
        await self._append(records)
        return ids

    def _records(
        self,
        raw: Mapping[str, Sequence[Any]],
        n_rows: int,
        result: Mapping[str, Any],
        started: float,
        given: list[str] | None = None,
    ) -> tuple[list[Any], list[str]]:
        ids = given if given is not None and len(given) == n_rows else new_ids(n_rows)
        if self.log is None:
            return [], ids
        name, version = self._labels
        latency = (time.perf_counter() - started) * 1000.0
        names = [c for c in self.model.types.columns if c in raw]
        records = prediction_records(
            ids, raw, names, result, model=(name, version), route=self.route, latency_ms=latency
        )
        return records, ids

    async def _append(self, records: list[Any]) -> None:
        if self.log is None or not records:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self.log.append, records)
        except Exception as exc:
            logger.exception("the prediction log cannot be written")
            raise PredictionLogError(
                "the prediction log cannot be written, so the prediction is not given; see "
                "the server log"
            ) from exc

    @property
    def model_doc(self) -> dict[str, Any]:
        """The served version, as responses name it."""
        return {"name": self.model.name, "version": self.model.version, "uri": self.model.uri}

    async def retire(self) -> None:
        """Finish what this scorer has accepted (queued batches and their log appends),
        then stop its batch worker; called when another version takes over."""
        while self._collecting or (self._queue is not None and not self._queue.empty()):
            await asyncio.sleep(0.001)
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        if self._worker is not None:
            self._worker.cancel()
