"""Content-addressed dataset versions, snapshotted as Parquet so the exact data can be read back.

Layout under the store root (``DIR/.headway/datasets`` by default)::

    <hash[:16]>-<key>/data.parquet      the exact table the pipeline used (timestamps in us, UTC)
    <hash[:16]>-<key>/version.json      the DatasetVersion record
    <hash[:16]>-<key>/validation.json   the ValidationReport, with the key it was made under

``hash`` is the content hash of the source and ``key`` the validation key (schema, roles and
task), since the typed table depends on both: the same bytes validated under another schema
get a directory of their own. A version directory is written under a temporary name and
renamed when complete, so a reader never sees half a version, and it is never rewritten.
Stores written by headway 0.1 keyed the directory by ``<hash[:16]>`` alone; they are read as
they are.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport, to_dict
from headway.exceptions import DataError

__all__ = ["SNAPSHOT_FILES", "DatasetStore", "PendingSnapshot"]

SNAPSHOT_FILES = ("data.parquet", "version.json", "validation.json")
"""The files of one version's directory."""


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
    """Dataset versions in a local directory.

    A version is immutable: once its directory is in place nothing rewrites it. One content
    hash can have several versions, one per validation key (the same bytes under another
    schema or roles); :meth:`get` picks among them.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, content_hash: str, validation_key: str) -> Path:
        return self.root / f"{content_hash[:16]}-{validation_key}"

    def _legacy_dir(self, content_hash: str) -> Path:
        return self.root / content_hash[:16]

    def _version_dir(self, version: DatasetVersion) -> Path:
        # The directory is named in ``snapshot_uri``; only its name is used, so a project
        # that was moved (or a 0.1 store recorded elsewhere) still resolves under ``root``.
        if version.snapshot_uri:
            name = PurePosixPath(unquote(urlparse(version.snapshot_uri).path)).parent.name
            if name.startswith(version.content_hash[:16]) and (self.root / name).is_dir():
                return self.root / name
        return self._legacy_dir(version.content_hash)

    def directory(self, version: DatasetVersion) -> Path:
        """The directory holding ``version``'s files (``data.parquet``, ``version.json``,
        ``validation.json``)."""
        return self._version_dir(version)

    def adopt(self, source: Path) -> DatasetVersion:
        """Take in a version's directory copied from another store (e.g. downloaded from
        the tracking server's artifact store); returns the version.

        The directory is moved into place under the name its ``snapshot_uri`` gives, in one
        rename; a version already stored under that name is kept as it is (a version is
        never rewritten) and ``source`` is left untouched then.

        Raises:
            DataError: ``source`` lacks one of the three files, or its ``version.json`` does
                not name a directory of its own content hash.
        """
        missing = [n for n in SNAPSHOT_FILES if not (source / n).is_file()]
        if missing:
            raise DataError(f"{source}: not a dataset snapshot, {', '.join(missing)} missing")
        version = self._read_version(source / "version.json")
        name = PurePosixPath(unquote(urlparse(version.snapshot_uri or "").path)).parent.name
        if not name.startswith(version.content_hash[:16]):
            raise DataError(
                f"{source / 'version.json'}: snapshot_uri {version.snapshot_uri!r} does not "
                f"name a directory of dataset version {version.short_hash}"
            )
        final = self.root / name
        if (final / "version.json").is_file():
            return self._read_version(final / "version.json")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        shutil.copytree(source, tmp)
        try:
            tmp.rename(final)
        except OSError:
            if not (final / "version.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self._read_version(final / "version.json")

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
        """Record ``version`` with its snapshot; returns it with ``snapshot_uri`` set.

        When this content was already stored under ``validation_key`` the stored version is
        returned as it is and the new snapshot is discarded: a version is never rewritten.
        """
        pending = snapshot if isinstance(snapshot, PendingSnapshot) else self.start(snapshot)
        stored = self.find_validated(version.content_hash, validation_key)
        if stored is not None:
            self.abort(pending)
            return stored[0]
        final = self._dir(version.content_hash, validation_key)
        version = replace(version, snapshot_uri=(final / "data.parquet").as_uri())
        tmp = pending.wait()
        try:
            (tmp / "version.json").write_text(json.dumps(to_dict(version), indent=2))
            doc = {**to_dict(report), "validation_key": validation_key}
            (tmp / "validation.json").write_text(json.dumps(doc, indent=2, default=str))
            try:
                tmp.rename(final)
            except OSError:
                # Another process stored the same version meanwhile: keep that one.
                stored = self.find_validated(version.content_hash, validation_key)
                if stored is None:
                    raise
                return stored[0]
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
        """Every complete version, newest first (the order :meth:`get` picks by)."""
        if not self.root.is_dir():
            return []
        found = [
            (self._read_version(path), path.stat().st_mtime_ns)
            for path in self.root.glob("[!.]*/version.json")
        ]
        # ``created_at`` has whole seconds; the record's write time breaks ties.
        found.sort(key=lambda item: (item[0].created_at, item[1]), reverse=True)
        return [version for version, _ in found]

    @staticmethod
    def _read_version(path: Path) -> DatasetVersion:
        doc = json.loads(path.read_text())
        return DatasetVersion(**{**doc, "columns": tuple(doc["columns"])})

    def get(self, ref: str, *, schema_hash: str | None = None) -> DatasetVersion:
        """The version whose content hash starts with ``ref`` (at least 6 characters).

        The same content validated under several schemas has several versions: the most
        recently stored one is returned, or, with ``schema_hash``, the most recent one
        validated under that schema (``DatasetVersion.schema_hash``, the model version's
        ``headway.schema_hash`` tag).

        Raises:
            DataError: no version matches ``ref`` (or ``ref`` and ``schema_hash``), or
                versions of several contents do.
        """
        if len(ref) < 6:
            raise DataError(f"dataset version {ref!r}: give at least 6 characters of the hash")
        matches = [v for v in self.versions() if v.content_hash.startswith(ref)]
        if not matches:
            raise DataError(
                f"no dataset version {ref!r} in {self.root}; list them with "
                "'headway data versions --project DIR'"
            )
        if len({v.content_hash for v in matches}) > 1:
            raise DataError(f"dataset version {ref!r} is ambiguous; give more characters")
        if schema_hash is not None:
            under = [v for v in matches if v.schema_hash == schema_hash]
            if not under:
                stored = ", ".join(sorted({v.schema_hash for v in matches}))
                raise DataError(
                    f"dataset version {ref!r} has no snapshot validated under schema "
                    f"{schema_hash!r} (stored under: {stored}); validate the same data with "
                    "that schema.yaml to snapshot it again"
                )
            matches = under
        return matches[0]

    def report(self, version: DatasetVersion) -> tuple[ValidationReport, str]:
        """The stored validation report of ``version`` and the key it was made under."""
        doc = json.loads((self._version_dir(version) / "validation.json").read_text())
        return _report_from_dict(doc), str(doc.get("validation_key", ""))

    def find_validated(
        self, content_hash: str, validation_key: str
    ) -> tuple[DatasetVersion, ValidationReport] | None:
        """A stored version of this content that passed validation under the same key."""
        for directory in (self._dir(content_hash, validation_key), self._legacy_dir(content_hash)):
            path = directory / "version.json"
            if not path.is_file():
                continue
            version = self._read_version(path)
            if version.content_hash != content_hash:
                continue
            doc = json.loads((directory / "validation.json").read_text())
            report = _report_from_dict(doc)
            if doc.get("validation_key") == validation_key and report.passed:
                return version, report
        return None

    def load_frame(self, version: DatasetVersion) -> pd.DataFrame:
        """Read back the exact table of ``version``."""
        path = self._version_dir(version) / "data.parquet"
        if not path.is_file():
            raise DataError(f"{path}: the snapshot of dataset version {version.short_hash} is gone")
        return pd.read_parquet(path)
