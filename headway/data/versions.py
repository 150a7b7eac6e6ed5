"""Content-addressed dataset versions, snapshotted as Parquet so the exact data can be read back.

Layout under the store root (``DIR/.headway/datasets`` by default)::

    <hash[:16]>/data.parquet        the exact table the pipeline used (timestamps in us, UTC)
    <hash[:16]>/version.json        the DatasetVersion record
    <hash[:16]>/validation.json     the ValidationReport, with the key it was made under

A version directory is written under a temporary name and renamed when complete, so a reader
never sees half a version.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport, to_dict
from headway.exceptions import DataError

__all__ = ["DatasetStore", "PendingSnapshot"]


def _normalise_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    # DuckDB and other readers take pandas' nanosecond Parquet timestamps as a different
    # type; microseconds in UTC read back the same everywhere.
    out = frame.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            if getattr(column.dt, "tz", None) is None:
                column = column.dt.tz_localize("UTC")
            out[name] = column.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return out


def _report_from_dict(doc: dict[str, Any]) -> ValidationReport:
    checks = tuple(
        CheckResult(**{**c, "examples": tuple(c["examples"]), "rows": tuple(c["rows"])})
        for c in doc["checks"]
    )
    return ValidationReport(doc["dataset_hash"], checks, doc.get("schema_hash", ""))


class PendingSnapshot:
    """A Parquet snapshot being written by a background thread."""

    def __init__(self, tmp: Path, frame: pd.DataFrame) -> None:
        self.tmp = tmp
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, args=(frame,), daemon=True)
        self._thread.start()

    def _write(self, frame: pd.DataFrame) -> None:
        try:
            _normalise_timestamps(frame).to_parquet(self.tmp / "data.parquet", index=False)
        except BaseException as exc:  # re-raised in the caller's thread by wait()
            self._error = exc

    def wait(self) -> Path:
        """Block until written; the temporary directory holding ``data.parquet``."""
        self._thread.join()
        if self._error is not None:
            raise DataError(f"cannot write the dataset snapshot: {self._error}") from self._error
        return self.tmp


class DatasetStore:
    """Dataset versions in a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, content_hash: str) -> Path:
        return self.root / content_hash[:16]

    def start(self, frame: pd.DataFrame) -> PendingSnapshot:
        """Begin writing ``frame`` as a snapshot in the background, under a temporary name.

        The data stage starts this once the table is typed and goes on validating meanwhile
        (Parquet encoding releases the GIL); :meth:`save` waits for it and makes it visible,
        :meth:`abort` throws it away.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        return PendingSnapshot(tmp, frame)

    def save(
        self,
        version: DatasetVersion,
        snapshot: PendingSnapshot | pd.DataFrame,
        report: ValidationReport,
        *,
        validation_key: str,
    ) -> DatasetVersion:
        """Record ``version`` with its snapshot; returns it with ``snapshot_uri`` set."""
        pending = snapshot if isinstance(snapshot, PendingSnapshot) else self.start(snapshot)
        final = self._dir(version.content_hash)
        version = replace(version, snapshot_uri=(final / "data.parquet").as_uri())
        tmp = pending.wait()
        try:
            (tmp / "version.json").write_text(json.dumps(to_dict(version), indent=2))
            doc = {**to_dict(report), "validation_key": validation_key}
            (tmp / "validation.json").write_text(json.dumps(doc, indent=2, default=str))
            if final.exists():
                shutil.rmtree(final)  # same content, re-validated under a new key
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return version

    def abort(self, pending: PendingSnapshot) -> None:
        """Discard a snapshot that will not become a version (the data failed validation)."""
        try:
            pending.wait()
        except DataError:
            pass
        finally:
            shutil.rmtree(pending.tmp, ignore_errors=True)

    def versions(self) -> list[DatasetVersion]:
        """Every complete version, newest first."""
        if not self.root.is_dir():
            return []
        out = [self._read_version(path) for path in self.root.glob("[!.]*/version.json")]
        return sorted(out, key=lambda v: v.created_at, reverse=True)

    @staticmethod
    def _read_version(path: Path) -> DatasetVersion:
        doc = json.loads(path.read_text())
        return DatasetVersion(**{**doc, "columns": tuple(doc["columns"])})

    def get(self, ref: str) -> DatasetVersion:
        """The version whose hash starts with ``ref`` (at least 6 characters).

        Raises:
            DataError: no version, or several, match ``ref``.
        """
        if len(ref) < 6:
            raise DataError(f"dataset version {ref!r}: give at least 6 characters of the hash")
        matches = [v for v in self.versions() if v.content_hash.startswith(ref)]
        if not matches:
            raise DataError(
                f"no dataset version {ref!r} in {self.root}; list them with "
                "'headway data versions --project DIR'"
            )
        if len(matches) > 1:
            raise DataError(f"dataset version {ref!r} is ambiguous; give more characters")
        return matches[0]

    def report(self, version: DatasetVersion) -> tuple[ValidationReport, str]:
        """The stored validation report of ``version`` and the key it was made under."""
        doc = json.loads((self._dir(version.content_hash) / "validation.json").read_text())
        return _report_from_dict(doc), str(doc.get("validation_key", ""))

    def find_validated(
        self, content_hash: str, validation_key: str
    ) -> tuple[DatasetVersion, ValidationReport] | None:
        """A stored version of this content that passed validation under the same key."""
        path = self._dir(content_hash) / "version.json"
        if not path.is_file():
            return None
        version = self._read_version(path)
        if version.content_hash != content_hash:
            return None
        report, key = self.report(version)
        if key != validation_key or not report.passed:
            return None
        return version, report

    def load_frame(self, version: DatasetVersion) -> pd.DataFrame:
        """Read back the exact table of ``version``."""
        path = self._dir(version.content_hash) / "data.parquet"
        if not path.is_file():
            raise DataError(f"{path}: the snapshot of dataset version {version.short_hash} is gone")
        return pd.read_parquet(path)
