"""``headway init --data``: a project from the user's own table, in one command.

:func:`init_project` reads the table (a sample when it is large), profiles it with
:func:`headway.data.profile.profile_table`, and writes ``headway.yaml`` with the reason for
every inferred choice beside it, ``schema.yaml`` and a ``.gitignore``. Every check runs
before the first file is written, and each file is written to a temporary name and renamed,
so bad input leaves the directory as it was.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from headway.config import ProjectConfig, SourceConfig
from headway.data.profile import PROFILE_ROWS, TableProfile, profile_table, read_profile_sample
from headway.data.schema import infer_schema, write_schema
from headway.datasets._examples import GITIGNORE
from headway.exceptions import ConfigError, DataError
from headway.project import CONFIG_FILENAME
from headway.tasks import DEFAULT_METRIC

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_TRIALS",
    "InitPlan",
    "init_project",
    "plan_project",
    "write_project",
]

# Small enough that the first run finishes in about a minute on a laptop.
DEFAULT_TRIALS = 10
DEFAULT_TIMEOUT_SECONDS = 30
SCHEMA_FILE = "schema.yaml"
_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ","}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_DELIMITERS = (",", ";", "\t", "|")
# Forecast defaults per period: horizon and rolling windows, in periods.
_FORECAST = {"D": (7, [7, 28]), "W": (4, [4, 13]), "MS": (3, [3, 12])}


@dataclass(frozen=True)
class InitPlan:
    """What :func:`init_project` writes, decided before anything is written."""

    root: Path
    name: str
    profile: TableProfile
    source: SourceConfig
    config_text: str
    frame: pd.DataFrame  # the table read, or a sample of it when it is large (not ``whole``)
    whole: bool  # ``frame`` is the whole table: schema.yaml is inferred from it
    parquet: bytes | None  # the DataFrame given as ``data``, for data/<name>.parquet

    @property
    def data_file(self) -> Path | None:
        return self.root / str(self.source.path) if self.parquet is not None else None


def init_project(
    directory: str | Path,
    *,
    data: pd.DataFrame | str | Path | None = None,
    target: str,
    task: str = "auto",
    timestamp: str = "auto",
    id_column: str = "auto",
    series: tuple[str, ...] | list[str] = (),
    name: str | None = None,
    sql: str | None = None,
    database: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Write a project for the table ``data`` (or the result of ``sql``) predicting ``target``.

    Args:
        directory: the project directory; created if missing.
        data: a DataFrame (written as ``data/<name>.parquet`` in the project), or a CSV or
            Parquet file, folder or glob (referenced relative to the project when inside it,
            else by its absolute path).
        target: the column to predict.
        task: ``auto`` (inferred from the target), ``binary``, ``multiclass``,
            ``regression`` or ``forecast``.
        timestamp: ``auto``, a column (time-based split), or ``none`` (hash-based split).
        id_column: ``auto``, a column (a unique row key, never a feature), or ``none``.
        series: forecasting: the columns that name one series.
        name: project and model name; defaults to the directory's name.
        sql: a DuckDB query in place of ``data`` (file paths relative to the project).
        database: the DuckDB database file the query reads.
        force: overwrite an existing ``headway.yaml`` and ``schema.yaml``.

    Returns:
        The path of the written ``headway.yaml``.

    Raises:
        ConfigError: a bad argument, an ambiguous choice (the message names the argument
            that settles it), or a directory that already holds a project.
        DataError: the data cannot be read, or the target is empty or constant.

    Example::

        headway.init_project("churn", data=frame, target="churned")
        result = headway.run("churn")
    """
    plan = plan_project(
        directory,
        data=data,
        target=target,
        task=task,
        timestamp=timestamp,
        id_column=id_column,
        series=series,
        name=name,
        sql=sql,
        database=database,
        force=force,
    )
    return write_project(plan)


def plan_project(
    directory: str | Path,
    *,
    data: pd.DataFrame | str | Path | None = None,
    target: str,
    task: str = "auto",
    timestamp: str = "auto",
    id_column: str = "auto",
    series: tuple[str, ...] | list[str] = (),
    name: str | None = None,
    sql: str | None = None,
    database: str | Path | None = None,
    force: bool = False,
) -> InitPlan:
    """Every check and inference of :func:`init_project`, without writing anything."""
    root = Path(directory)
    project_name = _project_name(name, root)
    for existing in (CONFIG_FILENAME, SCHEMA_FILE):
        if (root / existing).exists() and not force:
            raise ConfigError(
                f"{root / existing} already exists; use another directory, or --force to "
                "overwrite it."
            )
    if (data is None) == (sql is None):
        raise ConfigError("give the table as --data FILE_OR_GLOB or as --sql QUERY (one of them).")
    if database is not None and sql is None:
        raise ConfigError("--database applies to --sql only; add --sql QUERY or remove it.")
    parquet: bytes | None = None
    if isinstance(data, pd.DataFrame):
        parquet = _to_parquet(data)
        source = SourceConfig(type="parquet", path=f"data/{project_name}.parquet")
        if (root / str(source.path)).exists() and not force:
            raise ConfigError(
                f"{root / str(source.path)} already exists; use another directory, or --force."
            )
        frame, whole = _read_parquet_bytes(parquet), True
        if len(frame) == 0:
            raise DataError("the DataFrame given as data has no rows.")
    else:
        source = _source(root, data, sql, database)
        frame, sample = read_profile_sample(source, root=root)
        whole = not sample
    rows = frame
    if len(frame) > PROFILE_ROWS:
        rows = frame.sample(PROFILE_ROWS, random_state=0).sort_index()
    profile = profile_table(
        rows,
        target=target,
        task=task,
        timestamp=timestamp,
        id_column=id_column,
        series=tuple(series),
        sampled=not whole or len(rows) < len(frame),
    )
    text = _config_text(project_name, source, profile, frame)
    try:
        ProjectConfig.model_validate(yaml.safe_load(text))
    except ValidationError as exc:  # pragma: no cover - the text is built to validate
        raise ConfigError(f"the inferred headway.yaml does not validate: {exc}") from exc
    return InitPlan(root, project_name, profile, source, text, frame, whole, parquet)


def write_project(plan: InitPlan) -> Path:
    """Write the files of ``plan``: the data (a DataFrame), ``schema.yaml`` (unless only a
    sample of a large table was read: then the first run infers it from the whole table),
    ``headway.yaml`` last, and the ``.gitignore``."""
    config = ProjectConfig.model_validate(yaml.safe_load(plan.config_text))
    schema = None
    if plan.whole:
        frame = plan.frame.copy()
        stamp = config.data.timestamp_column
        if stamp is not None:  # as the data stage does before it infers a schema
            frame[stamp] = pd.to_datetime(frame[stamp], utc=True, errors="coerce", format="mixed")
        schema = infer_schema(frame, config.data)
    plan.root.mkdir(parents=True, exist_ok=True)
    if plan.parquet is not None and plan.data_file is not None:
        plan.data_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(plan.data_file, plan.parquet)
    if schema is not None:
        write_schema(schema, plan.root / config.data.schema_file)
    config_path = plan.root / CONFIG_FILENAME
    _write_atomic(config_path, plan.config_text.encode("utf-8"))
    gitignore = plan.root / ".gitignore"
    if not gitignore.exists() or ".headway/" not in gitignore.read_text(encoding="utf-8"):
        with gitignore.open("a", encoding="utf-8") as fh:
            fh.write(GITIGNORE)
    return config_path


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


def _project_name(name: str | None, root: Path) -> str:
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    if name is not None:
        if not pattern.match(name) or len(name) > 100:
            raise ConfigError(
                f"--name {name!r}: use letters, digits, '_', '.' and '-', starting with a "
                "letter or digit (at most 100 characters)."
            )
        return name
    derived = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-_.")[:100]
    return derived or "model"


def _to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
    except Exception as exc:  # pyarrow's conversion errors share no importable base
        raise DataError(f"the DataFrame given as data cannot be saved as Parquet: {exc}") from exc
    return buffer.getvalue()


def _read_parquet_bytes(content: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq

    # Read back as headway run will read the file: the profile sees the same types.
    return pq.read_table(io.BytesIO(content)).to_pandas()


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the project directory when inside it, else absolute."""
    absolute = Path(path).expanduser().absolute()
    try:
        return absolute.relative_to(root.absolute()).as_posix()
    except ValueError:
        return str(absolute)


def _source(
    root: Path, data: str | Path | None, sql: str | None, database: str | Path | None
) -> SourceConfig:
    if sql is not None:
        where = _relative(Path(database), root) if database is not None else None
        if database is not None and not Path(database).is_file():
            raise DataError(f"{database}: DuckDB database not found (--database).")
        return SourceConfig(type="sql", query=sql, database=where)
    assert data is not None
    text = str(data)
    path = Path(text)
    glob = any(ch in text for ch in "*?[")
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".gz", ".bz2", ".zst", ".xz") and len(suffixes) > 1:
        suffix = suffixes[-2]
    if (path.is_dir() and not glob) or suffix in _PARQUET_SUFFIXES:
        kind = "parquet"
    elif suffix in _CSV_SUFFIXES:
        kind = "csv"
    else:
        raise ConfigError(
            f"{text}: cannot tell the format from its extension; give a .csv, .tsv or .parquet "
            "file, a folder of .parquet files, or a glob such as data/*.parquet (--data)."
        )
    if not glob and not path.exists():
        raise DataError(f"{text}: no such file or folder (--data).")
    delimiter = _CSV_SUFFIXES.get(suffix, ",")
    if kind == "csv" and not glob:
        delimiter = _sniff_delimiter(path, delimiter)
    location = _relative(path, root)
    return SourceConfig(type=kind, path=location, delimiter=delimiter)  # type: ignore[arg-type]


def _sniff_delimiter(path: Path, default: str) -> str:
    """The delimiter of a CSV file's header line, when it is not the usual one."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return default
    if default in header:
        return default
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else default


def _scalar(value: object) -> str:
    """``value`` as a YAML flow scalar (quoted when it must be)."""
    return yaml.safe_dump([value], default_flow_style=True, width=10_000).strip()[1:-1]


def _comment(text: str) -> str:
    return " ".join(text.split())


def _line(key: str, value: str, comment: str, indent: int = 0) -> str:
    body = f"{' ' * indent}{key}: {value}"
    return f"{body:<36} # {_comment(comment)}" if comment else body


def _frequency(frame: pd.DataFrame, column: str) -> tuple[str, str]:
    stamps = pd.Series(
        pd.to_datetime(frame[column], utc=True, errors="coerce", format="mixed").dropna().unique()
    ).sort_values()
    gaps = stamps.diff().dropna()
    if gaps.empty:
        return "D", "too few periods to tell; daily assumed"
    days = gaps.median() / pd.Timedelta(days=1)
    if 27 <= days <= 32:
        return "MS", f"{column!r} is {days:.0f} days apart (median): monthly"
    if 6.5 <= days <= 7.5:
        return "W", f"{column!r} is 7 days apart (median): weekly"
    return "D", f"{column!r} is {days:g} day(s) apart (median): daily"


def _config_text(
    name: str, source: SourceConfig, profile: TableProfile, frame: pd.DataFrame
) -> str:
    task = str(profile.task.value)
    metric = DEFAULT_METRIC[task]
    rows = f"{profile.n_rows:,} rows" + (" (a sample)" if profile.sampled else "")
    lines = [
        "# headway project file, written by `headway init --data` from the table's profile",
        f"# ({rows} x {profile.n_columns} columns). The comment beside each inferred key says",
        "# why; change any of them. Every key is documented in docs/configuration.md.",
        _line("name", _scalar(name), ""),
        _line("task", task, profile.task.reason),
        _line("seed", "42", "the same seed gives the same split and search"),
        "",
        "data:",
        "  source:",
    ]
    if source.type == "sql":
        lines.append(_line("query", _scalar(source.query), "run by DuckDB", 4))
        if source.database:
            lines.append(_line("database", _scalar(source.database), "a DuckDB database file", 4))
    else:
        lines.append(_line("path", _scalar(source.path), "relative to this file, or absolute", 4))
        suffix = Path(str(source.path)).suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            lines.append(_line("type", str(source.type), "not told by the extension", 4))
        if source.delimiter != ",":
            lines.append(_line("delimiter", _scalar(source.delimiter), "read from the header", 4))
    lines.append(_line("target", _scalar(profile.target), "the column to predict", 2))
    for key, decision in (
        ("id_column", profile.id_column),
        ("timestamp_column", profile.timestamp_column),
    ):
        if decision.value is None:
            lines.append(f"  # {key}: none - {_comment(decision.reason)}")
        else:
            lines.append(_line(key, _scalar(decision.value), decision.reason, 2))
    if profile.series_columns:
        shown = "[" + ", ".join(_scalar(c) for c in profile.series_columns) + "]"
        lines.append(
            _line("series_columns", shown, "--series: the columns that name one series", 2)
        )
    if profile.exclusions:
        lines.append(f"{'  exclude_columns:':<36} # never used as features:")
        for exclusion in profile.exclusions:
            item = f"    - {_scalar(exclusion.column)}"
            lines.append(f"{item:<36} # {_comment(exclusion.reason)}")
    else:
        lines.append(
            _line("exclude_columns", "[]", "no constant, free-text or leakage-suspect column", 2)
        )
    lines += [
        "",
        "split:",
        _line("valid_fraction", "0.2", "rows used to tune hyper-parameters", 2),
        _line(
            "test_fraction", "0.2", f"held out for evaluation and gates; split: {profile.split}", 2
        ),
        "",
    ]
    if task == "forecast":
        frequency, why = _frequency(frame, str(profile.timestamp_column.value))
        horizon, windows = _FORECAST[frequency]
        lines += [
            "forecast:",
            _line("frequency", frequency, why, 2),
            _line("horizon", str(horizon), "periods ahead; no feature newer than this", 2),
            _line("windows", str(windows), "rolling means ending a horizon before the row", 2),
            "",
        ]
    lines += [
        "training:",
        _line("metric", metric, f"the default metric of task {task}", 2),
        f"{'  budget:':<36} # small, so that the first run takes about a minute;",
        f"{'':<36} # raise both for a better model",
        _line("trials", str(DEFAULT_TRIALS), "Optuna trials; whichever limit comes first stops", 4),
        _line("timeout_seconds", str(DEFAULT_TIMEOUT_SECONDS), "", 4),
        "  # Families searched; default: every installed one.",
        "  # model_families: [lightgbm, xgboost, linear, random_forest, extra_trees]",
        "",
        "gates:",
        _line("min_improvement", "0.0", "how much a candidate must beat the champion by", 2),
        f"  # min_metrics: {{{metric}: ...}}      # a floor, once you know what is good enough",
        "",
    ]
    return "\n".join(lines)
