"""Append-only segment files: one JSON line per record, one writer process per segment.

A writer creates its segment under a hidden temporary name, takes an exclusive
``flock`` on it and only then renames it to ``<pid>-<uuid>.jsonl``, so a compactor can
never take a segment that a live process still writes to: it takes a segment only when
it gets that lock itself, which the kernel releases when the writer closes the segment or
dies. A batch goes out in one ``os.write`` (looped on short writes) and, with ``fsync``,
one ``fdatasync``; a process killed mid-write leaves a torn last line, which readers skip
(that batch was never acknowledged).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SegmentWriter", "closed_segments", "fsync_dir", "read_segment"]

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
_TMP_SUFFIX = ".tmp"
_sync_data = getattr(os, "fdatasync", os.fsync)


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (a created, renamed or removed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """This process's current segment in ``directory``; a new one after ``max_bytes``.

    Thread-safe. In a child process forked after a write, the parent's segment is left to
    the parent and the child opens its own.
    """

    def __init__(self, directory: Path, *, fsync: bool, max_bytes: int) -> None:
        self.directory = directory
        self._fsync = fsync
        self._max_bytes = max_bytes
        self._fd: int | None = None
        self._pid = 0
        self._size = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines), durably when ``fsync`` is on."""
        with self._lock:
            if self._fd is not None and self._pid != os.getpid():
                os.close(self._fd)  # the parent's segment: its lock stays with the parent
                self._fd = None
            if self._fd is None:
                self._open()
            assert self._fd is not None
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                if self._fsync:
                    _sync_data(self._fd)
            except BaseException:
                # A partial line may be at the end: never write after it (it would merge
                # with the next record); the next batch goes to a new segment.
                self._close()
                raise
            self._size += len(data)
            if self._size >= self._max_bytes:
                self._close()

    def roll(self) -> None:
        """Close the current segment (a compactor may take it now); the next write opens
        a new one."""
        with self._lock:
            if self._fd is not None and self._pid != os.getpid():
                os.close(self._fd)
                self._fd = None
            self._close()

    close = roll

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex}"
        tmp = self.directory / f".{name}{_TMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(tmp, self.directory / f"{name}{SUFFIX}")
            if self._fsync:
                fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._fd, self._pid, self._size = fd, os.getpid(), 0

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def read_segment(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """The records of a segment; a torn last line (a killed writer) or a line that is not
    a record is skipped. A segment removed meanwhile (compacted) reads as empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    complete = data[: data.rfind(b"\n") + 1]
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(complete.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or any(key not in row for key in required):
            logger.warning("skipping line %d of %s: not a complete record", number, path)
            continue
        rows.append(row)
    return rows


def segment_paths(directory: Path) -> list[Path]:
    """The segments in ``directory``, oldest process id and name first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{SUFFIX}"))


def closed_segments(directory: Path) -> Iterator[Path]:
    """The segments that no live process writes to, each locked while the caller handles it.

    Leftover temporary files of writers killed before their first write are removed.
    """
    if not directory.is_dir():
        return
    for tmp in sorted(directory.glob(f".*{_TMP_SUFFIX}")):
        with _locked(tmp) as got:
            if got:
                tmp.unlink(missing_ok=True)
    for path in segment_paths(directory):
        with _locked(path) as got:
            if got:
                yield path


class _locked:
    """``with _locked(path) as got``: ``got`` is whether an exclusive lock on ``path`` was
    taken without waiting (``False`` also when the file is gone)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> bool:
        try:
            self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
