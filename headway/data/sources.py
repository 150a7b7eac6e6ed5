"""Readers for the data sources of ``data.source``: CSV, Parquet (file, folder, glob), SQL.

Files are fingerprinted by the bytes they hold before they are parsed, so that an unchanged
source can be recognised (and its validated snapshot reused) without parsing it at all.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from headway.config import SourceConfig
from headway.exceptions import DataError

__all__ = ["SourceFiles", "frame_hash", "locate", "read_source"]

_CHUNK = 1 << 20
_OTHER_DELIMITERS = (";", "\t", "|")


@dataclass(frozen=True)
class SourceFiles:
    """The files behind a file source and the hash of their bytes."""

    uri: str
    files: tuple[Path, ...]
    content_hash: str


def _hash_files(files: list[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        if len(files) > 1:
            digest.update(str(path.relative_to(base)).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def locate(source: SourceConfig, *, root: Path) -> SourceFiles | None:
    """Find and fingerprint the files of a CSV or Parquet source; ``None`` for SQL.

    Raises:
        DataError: the path, folder or glob matches no file.
    """
    if source.type == "sql" or source.path is None:
        return None
    target = (root / source.path).resolve()
    hint = "Fix data.source.path in headway.yaml or put the data there."
    if any(ch in source.path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(root / source.path)) if Path(p).is_file())
        if not files:
            raise DataError(f"{source.path}: the glob matches no file (data.source.path). {hint}")
        return SourceFiles(target.as_uri(), tuple(files), _hash_files(files, root))
    if target.is_dir():
        files = sorted(p for p in target.rglob("*.parquet") if p.is_file())
        if not files:
            raise DataError(f"{target}: the folder holds no .parquet file. {hint}")
        return SourceFiles(target.as_uri(), tuple(files), _hash_files(files, target))
    if not target.is_file():
        raise DataError(
            f"{target}: data file not found (data.source.path = {source.path!r}). {hint}"
        )
    if target.stat().st_size == 0:
        raise DataError(f"{target}: the data file is empty. Export the data again.")
    return SourceFiles(target.as_uri(), (target,), _hash_files([target], target.parent))


def frame_hash(frame: pd.DataFrame) -> str:
    """Hash of a table's full content (values, column names and dtypes), not of a sample."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_source(source: SourceConfig, *, root: Path, files: SourceFiles | None) -> pd.DataFrame:
    """Parse the source into a DataFrame.

    Raises:
        DataError: unreadable, wrongly delimited or wrongly encoded data, an SQL error, or a
            table without rows; the message names the file or query and the fix.
    """
    if source.type == "sql":
        frame = _read_sql(source, root)
        where = f"the query of data.source ({source.describe()})"
    else:
        assert files is not None
        where = str(files.files[0] if len(files.files) == 1 else source.path)
        if source.type == "csv":
            parts = [_read_csv(path, source) for path in files.files]
            frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        else:
            frame = _read_parquet(files)
    if len(frame) == 0:
        raise DataError(f"{where}: the data has a header but no rows. Export the data again.")
    return frame


def _read_csv(path: Path, source: SourceConfig) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=source.delimiter, encoding=source.encoding, engine="pyarrow")
    except UnicodeDecodeError as exc:
        raise DataError(_encoding_message(path, source, str(exc))) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file has no header and no rows. Export it again.") from exc
    except Exception as exc:  # pyarrow's parser errors carry no common base we can import
        text = str(exc)
        if "UTF8" in text or "utf-8" in text.lower() or "decode" in text.lower():
            raise DataError(_encoding_message(path, source, text)) from exc
        if "Empty CSV file" in text:
            raise DataError(
                f"{path}: the file has no header and no rows. Export it again."
            ) from exc
        raise DataError(f"{path}: cannot be read as CSV: {text.splitlines()[0]}") from exc
    for column, dtype in frame.dtypes.items():
        # pyarrow hands back a column with undecodable text as bytes instead of failing;
        # the whole column is then binary, so its first value tells.
        if not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
            continue
        values = frame[column].dropna()
        if len(values) and isinstance(values.iloc[0], bytes):
            bad = values[values.map(lambda v: isinstance(v, bytes) and not _decodes(v))]
            row, value = (int(bad.index[0]), bad.iloc[0]) if len(bad) else (0, values.iloc[0])
            raise DataError(
                _encoding_message(
                    path, source, f"column {column!r}, row {row}: {value[:40]!r} does not decode"
                )
            )
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        for other in _OTHER_DELIMITERS:
            if other != source.delimiter and other in header:
                shown = "\\t" if other == "\t" else other
                raise DataError(
                    f"{path}: the header {header[:80]!r} reads as one column with delimiter "
                    f"{source.delimiter!r}; the file looks {shown!r}-delimited. "
                    f"Set data.source.delimiter: {shown!r} in headway.yaml."
                )
    return frame


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _encoding_message(path: Path, source: SourceConfig, detail: str) -> str:
    return (
        f"{path}: not valid {source.encoding} text ({detail.splitlines()[0][:120]}). "
        "Re-export it as UTF-8, or set data.source.encoding (e.g. latin-1) in headway.yaml."
    )


def _read_parquet(files: SourceFiles) -> pd.DataFrame:
    import pyarrow.dataset as ds

    try:
        return ds.dataset([str(p) for p in files.files], format="parquet").to_table().to_pandas()
    except Exception as exc:  # pyarrow.ArrowInvalid and friends
        raise DataError(f"{files.uri}: cannot be read as Parquet: {exc}") from exc


def _read_sql(source: SourceConfig, root: Path) -> pd.DataFrame:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
        raise DataError("data.source.type 'sql' needs duckdb: pip install duckdb") from exc
    database = str((root / source.database).resolve()) if source.database else ":memory:"
    if source.database and not Path(database).is_file():
        raise DataError(f"{database}: DuckDB database not found (data.source.database).")
    try:
        con = duckdb.connect(database, read_only=source.database is not None)
        try:
            con.execute(f"SET file_search_path = '{root.resolve()}'")
            return con.sql(source.query or "").df()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise DataError(
            f"the SQL query of data.source failed: {str(exc).splitlines()[0]}. "
            "Fix data.source.query (file paths are relative to the project directory)."
        ) from exc
