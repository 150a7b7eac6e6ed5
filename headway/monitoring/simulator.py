"""Traffic for demos and tests: replay a stream of rows to a running prediction server and
send their labels as feedback a few rows later, as labels arrive in production.

:func:`simulate` posts the rows of a frame to ``POST /invocations`` (``dataframe_split``,
``batch_rows`` rows a request, at most ``rate`` requests a second) and, once
``label_delay`` further rows have been answered, posts each answered row's target to
``POST /feedback`` under the prediction id the server gave it (``label_batch`` labels a
request; whatever is still due is sent at the end). It speaks to the server over HTTP
only, through :class:`PredictionClient`, so it works against any ``headway serve`` and
never imports the server.

Example:
    >>> from headway.datasets import make_stream  # doctest: +SKIP
    >>> stream = make_stream("churn", 1_000, drift="covariate", at=500)  # doctest: +SKIP
    >>> result = simulate("http://127.0.0.1:8080", stream, target="churned")  # doctest: +SKIP
    >>> result.rows_answered, result.labels_accepted  # doctest: +SKIP
    (1000, 1000)
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from headway.exceptions import DataError, ServingError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Label",
    "PredictionClient",
    "Progress",
    "Reply",
    "RequestFailure",
    "SimulationResult",
    "simulate",
]

logger = logging.getLogger(__name__)

Label = str | int | float | bool
Progress = Callable[[int, int], None]
"""Called after each request with the rows sent so far and the labels sent so far."""

# Answers that say "not now": worth another try after a pause.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
# Transport errors raised before the request reached the server: a retry cannot log a
# prediction twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_LABELS_PER_REQUEST = 1_000
_MAX_UNANSWERED = 3  # consecutive requests without an answer before the run stops
_FAILURES_SHOWN = 10


@dataclass(frozen=True)
class Reply:
    """The server's answer to one request.

    Attributes:
        status: the HTTP status; ``None`` when no answer came (refused, timed out).
        doc: the JSON object of the body, ``None`` when there is none.
        message: empty on success; otherwise the server's message or the transport error.
    """

    status: int | None
    doc: dict[str, Any] | None
    message: str

    @property
    def ok(self) -> bool:
        """A 200 answer with a JSON object."""
        return self.status == 200 and self.doc is not None


@dataclass(frozen=True)
class RequestFailure:
    """A request that got no usable answer.

    Attributes:
        route: ``/invocations`` or ``/feedback``.
        first_row: the stream position of its first row (for ``/feedback``: of the row
            whose label comes first).
        rows: rows (or labels) it carried.
        status: the HTTP status; ``None`` when no answer came.
        message: the server's message or the transport error.
    """

    route: str
    first_row: int
    rows: int
    status: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "first_row": self.first_row,
            "rows": self.rows,
            "status": self.status,
            "message": self.message,
        }


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation sent and what the server answered.

    Attributes:
        url: the server's base URL.
        rows: rows in the stream.
        rows_sent: rows posted to ``/invocations`` (answered or not).
        rows_answered: rows that got a prediction id.
        requests: ``POST /invocations`` requests made (retries not counted).
        failures: requests (both routes) that got no usable answer, in order.
        labels_sent: labels in ``/feedback`` requests the server answered.
        labels_accepted: labels the server stored.
        labels_refused: labels the server refused as malformed.
        labels_failed: labels in ``/feedback`` requests that got no usable answer.
        unknown_ids: prediction ids the server's log does not know (labels not stored).
        prediction_ids: one per stream row, ``None`` for a row that was not answered.
        elapsed_seconds: wall-clock time of the run.
    """

    url: str
    rows: int
    rows_sent: int
    rows_answered: int
    requests: int
    failures: tuple[RequestFailure, ...]
    labels_sent: int
    labels_accepted: int
    labels_refused: int
    labels_failed: int
    unknown_ids: tuple[str, ...]
    prediction_ids: tuple[str | None, ...]
    elapsed_seconds: float

    @property
    def failed_requests(self) -> int:
        """``/invocations`` requests that got no usable answer."""
        return sum(1 for failure in self.failures if failure.route == "/invocations")

    def failures_by_status(self) -> dict[str, int]:
        """Failed requests per HTTP status (``"none"``: no answer), for reports."""
        counts = Counter(
            "none" if failure.status is None else str(failure.status) for failure in self.failures
        )
        return dict(sorted(counts.items()))

    def as_dict(self, *, ids: bool = False) -> dict[str, Any]:
        """The result as JSON-ready values: the counts, the failures by status and the
        first few failures; ``ids``: the prediction ids too (one per row, large)."""
        doc: dict[str, Any] = {
            "url": self.url,
            "rows": self.rows,
            "rows_sent": self.rows_sent,
            "rows_answered": self.rows_answered,
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "failures_by_status": self.failures_by_status(),
            "failures": [failure.as_dict() for failure in self.failures[:_FAILURES_SHOWN]],
            "labels_sent": self.labels_sent,
            "labels_accepted": self.labels_accepted,
            "labels_refused": self.labels_refused,
            "labels_failed": self.labels_failed,
            "unknown_ids": list(self.unknown_ids),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }
        if ids:
            doc["prediction_ids"] = list(self.prediction_ids)
        return doc


class PredictionClient:
    """A client of one running prediction server: ``POST /invocations`` and
    ``POST /feedback`` with an optional bearer token, timeouts and bounded retries.

    A request is tried again (at most ``retries`` more times, after a pause that doubles
    from ``backoff`` seconds) when the server answers 429, 502, 503 or 504, or when it could
    not be reached at all; a ``/invocations`` request that may have reached the server
    (a read timeout, a dropped connection) is not repeated, so that no prediction is logged
    twice. Use it as a context manager; it holds one connection pool.

    Example:
        >>> with PredictionClient("http://127.0.0.1:8080") as client:  # doctest: +SKIP
        ...     client.check()
        ...     reply = client.send_labels([("75e0106f525f42d18067acd1f7750506", 1)])
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.2,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ServingError(
                f"the server URL {url!r} is not an http(s) URL; give e.g. http://127.0.0.1:8080"
            )
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def check(self) -> None:
        """Make sure a server answers at the URL (``GET /health/live``).

        Raises:
            ServingError: nothing answers there; the message names the URL.
        """
        try:
            response = self._client.get("/health/live")
        except httpx.TransportError as exc:
            raise ServingError(
                f"no prediction server answers at {self.url} ({_describe(exc)}); start one "
                "with 'headway serve --project DIR', or give the URL of a running one"
            ) from exc
        if response.status_code == 404:
            raise ServingError(
                f"{self.url} answers, but not as a headway prediction server "
                "(GET /health/live: 404); check the URL"
            )

    def predict(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Reply:
        """``POST /invocations`` of ``rows`` (JSON-ready values in the order of ``columns``)."""
        body = {"dataframe_split": {"columns": list(columns), "data": [list(r) for r in rows]}}
        return self._post("/invocations", _dumps(body), resend=False)

    def send_labels(self, labels: Sequence[tuple[str, Label]]) -> Reply:
        """``POST /feedback`` of ``(prediction_id, label)`` pairs; the reply's ``doc`` holds
        ``accepted``, ``unknown_ids`` and ``errors``. Sending a label again is harmless (the
        log keeps the latest), so any failed attempt may be repeated."""
        body = [{"prediction_id": pid, "label": label} for pid, label in labels]
        return self._post("/feedback", _dumps(body), resend=True)

    def _post(self, path: str, body: bytes, *, resend: bool) -> Reply:
        attempt = 0
        while True:
            try:
                response = self._client.post(path, content=body)
            except httpx.TransportError as exc:
                if attempt < self.retries and (resend or isinstance(exc, _NOT_SENT)):
                    attempt += 1
                    logger.debug("POST %s%s: %s; trying again", self.url, path, _describe(exc))
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                return Reply(None, None, _describe(exc))
            if response.status_code in _RETRY_STATUS and attempt < self.retries:
                attempt += 1
                logger.debug("POST %s%s: %d; trying again", self.url, path, response.status_code)
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            return _reply(response)


def simulate(
    url: str,
    frame: pd.DataFrame,
    *,
    target: str,
    columns: Sequence[str] | None = None,
    batch_rows: int = 1,
    rate: float | None = None,
    label_delay: int | None = 0,
    label_batch: int = 50,
    token: str | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    on_progress: Progress | None = None,
) -> SimulationResult:
    """Replay ``frame`` to the prediction server at ``url`` and send its labels as feedback.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8080``.
        frame: the rows to send, in order (e.g. :func:`headway.datasets.make_stream`).
        target: the column holding each row's label; never sent as an input.
        columns: the columns sent as inputs; default: every column but ``target``.
        batch_rows: rows per ``/invocations`` request.
        rate: requests per second at most; ``None``: as fast as the server answers.
        label_delay: a row's label is sent once this many further rows have been answered;
            ``None``: no labels are sent.
        label_batch: labels per ``/feedback`` request (the last one may hold fewer).
        token: bearer token of the role ``predict`` (or ``admin``), when the server asks one.
        timeout: seconds to wait for one answer.
        retries: further tries of a request the server could not take (see
            :class:`PredictionClient`).
        on_progress: called after each request with the rows sent and labels sent so far.

    Returns:
        A :class:`SimulationResult`: counts, failures with their status, prediction ids.

    Raises:
        ServingError: no server answers at ``url``, it refuses the token (401/403), or it
            stops answering for several requests in a row; the message names the URL.
        DataError: ``target`` or a name in ``columns`` is not a column of ``frame``.
        ValueError: ``batch_rows``, ``label_batch``, ``rate`` or ``label_delay`` out of range.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if label_batch < 1:
        raise ValueError(f"label_batch must be >= 1, got {label_batch}")
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a number of requests per second > 0, got {rate}")
    if label_delay is not None and label_delay < 0:
        raise ValueError(f"label_delay must be >= 0 rows (or None: no labels), got {label_delay}")
    inputs = _inputs(frame, target, columns)
    rows = _json_rows(frame[inputs])
    labels = [_json_label(value) for value in _json_column(frame[target])]
    run = _Run(len(frame), label_delay=label_delay, label_batch=label_batch)

    with PredictionClient(url, token=token, timeout=timeout, retries=retries) as client:
        client.check()
        started = time.perf_counter()
        unanswered = 0
        for number, first in enumerate(range(0, len(rows), batch_rows)):
            if rate is not None:
                time.sleep(max(0.0, started + number / rate - time.perf_counter()))
            last = min(first + batch_rows, len(rows))
            reply = client.predict(inputs, rows[first:last])
            run.requests += 1
            run.rows_sent += last - first
            ids, problem = _prediction_ids(reply, last - first)
            if ids is None:
                _refuse_bad_token(reply, client.url)
                run.failures.append(
                    RequestFailure("/invocations", first, last - first, reply.status, problem)
                )
                unanswered = unanswered + 1 if reply.status is None else 0
                if unanswered >= _MAX_UNANSWERED:
                    raise ServingError(
                        f"the prediction server at {client.url} stopped answering after "
                        f"{run.rows_answered} of {len(rows)} rows ({reply.message}); check "
                        "that it is still running"
                    )
            else:
                unanswered = 0
                run.answered(first, ids, labels)
            run.send_due(client, final=False)
            if on_progress is not None:
                on_progress(last, run.labels_sent)
        run.send_due(client, final=True)
        if on_progress is not None:
            on_progress(len(rows), run.labels_sent)
        return run.result(client.url, time.perf_counter() - started)


class _Run:
    """The counters of one simulation and its labels waiting for their delay."""

    def __init__(self, n_rows: int, *, label_delay: int | None, label_batch: int) -> None:
        self.n_rows = n_rows
        self.label_delay = label_delay
        self.label_batch = label_batch
        self.rows_sent = 0
        self.rows_answered = 0
        self.requests = 0
        self.failures: list[RequestFailure] = []
        self.labels_sent = 0
        self.labels_accepted = 0
        self.labels_refused = 0
        self.labels_failed = 0
        self.unknown_ids: list[str] = []
        self.ids: list[str | None] = [None] * n_rows
        # (answered position, stream row, prediction id, label), in answer order.
        self.pending: deque[tuple[int, int, str, Label]] = deque()

    def answered(self, first: int, ids: list[str], labels: list[Label | None]) -> None:
        for offset, pid in enumerate(ids):
            row = first + offset
            self.ids[row] = pid
            label = labels[row]
            if self.label_delay is not None and label is not None:
                self.pending.append((self.rows_answered + offset, row, pid, label))
        self.rows_answered += len(ids)

    def send_due(self, client: PredictionClient, *, final: bool) -> None:
        """Send the labels whose delay has passed: in full batches while the run goes on,
        all of them at the end."""
        assert self.label_delay is not None or not self.pending
        delay = self.label_delay or 0
        due = 0
        for position, *_ in self.pending:
            if not final and position + 1 + delay > self.rows_answered:
                break
            due += 1
        size = min(self.label_batch, _MAX_LABELS_PER_REQUEST)
        while due >= size or (final and due):
            batch = [self.pending.popleft() for _ in range(min(size, due))]
            due -= len(batch)
            self._send(client, batch)

    def _send(self, client: PredictionClient, batch: list[tuple[int, int, str, Label]]) -> None:
        reply = client.send_labels([(pid, label) for _, _, pid, label in batch])
        doc = reply.doc
        if reply.status in (200, 422) and doc is not None and "accepted" in doc:
            self.labels_sent += len(batch)
            self.labels_accepted += int(doc["accepted"])
            self.unknown_ids.extend(str(pid) for pid in doc.get("unknown_ids", []))
            self.labels_refused += len(doc.get("errors", []))
            return
        _refuse_bad_token(reply, client.url)
        self.labels_failed += len(batch)
        self.failures.append(
            RequestFailure("/feedback", batch[0][1], len(batch), reply.status, reply.message)
        )

    def result(self, url: str, elapsed: float) -> SimulationResult:
        return SimulationResult(
            url=url,
            rows=self.n_rows,
            rows_sent=self.rows_sent,
            rows_answered=self.rows_answered,
            requests=self.requests,
            failures=tuple(self.failures),
            labels_sent=self.labels_sent,
            labels_accepted=self.labels_accepted,
            labels_refused=self.labels_refused,
            labels_failed=self.labels_failed,
            unknown_ids=tuple(self.unknown_ids),
            prediction_ids=tuple(self.ids),
            elapsed_seconds=elapsed,
        )


def _inputs(frame: pd.DataFrame, target: str, columns: Sequence[str] | None) -> list[str]:
    """The columns sent as inputs, checked against the frame."""
    present = [str(c) for c in frame.columns]
    if target not in present:
        raise DataError(
            f"the rows have no target column {target!r} (the labels to send); they have "
            f"{', '.join(present)}"
        )
    if columns is None:
        return [c for c in present if c != target]
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(
            f"columns {', '.join(map(repr, missing))} are not in the rows; they have "
            f"{', '.join(present)}"
        )
    return [c for c in columns if c != target]


def _json_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The frame's rows as lists of JSON values: times in ISO 8601, missing values null."""
    cells = [_json_column(frame[column]) for column in frame.columns]
    return [list(row) for row in zip(*cells, strict=True)]


def _json_column(values: pd.Series) -> list[Any]:
    """A column's cells as JSON values: ``None`` where missing, plain Python numbers and
    ISO 8601 times."""
    present = values.notna().tolist()
    return [
        _json_value(value) if keep else None
        for value, keep in zip(values.tolist(), present, strict=True)
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):  # datetime, pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def _json_label(value: Any) -> Label | None:
    """A target cell as a label: a JSON scalar, ``None`` when missing (no label is sent)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=str)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _reply(response: httpx.Response) -> Reply:
    doc: dict[str, Any] | None = None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        doc = parsed
    if response.status_code == 200 and doc is not None:
        return Reply(200, doc, "")
    message = str(doc.get("message", "")) if doc is not None else ""
    return Reply(response.status_code, doc, message or response.text[:300])


def _prediction_ids(reply: Reply, n_rows: int) -> tuple[list[str] | None, str]:
    """The prediction ids of an answered request, or ``None`` and why there are none."""
    if not reply.ok or reply.doc is None:
        return None, reply.message
    ids = reply.doc.get("prediction_ids")
    if not isinstance(ids, list) or len(ids) != n_rows:
        return None, f"the answer holds no prediction_ids for its {n_rows} row(s)"
    return [str(pid) for pid in ids], ""


def _refuse_bad_token(reply: Reply, url: str) -> None:
    """Stop at once when the server refuses the token: no later request can succeed."""
    if reply.status in (401, 403):
        raise ServingError(
            f"the prediction server at {url} refused the request ({reply.status}: "
            f"{reply.message}); give a token of the role predict (--token, or "
            "HEADWAY_API_TOKENS where the server reads it)"
        )
