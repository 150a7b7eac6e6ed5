"""Point-in-time join: headway's ``historical_features`` against Feast's
``get_historical_features`` (offline store ``duckdb``), same data, same semantics.

The data is generated here (numpy, seeded; nothing is downloaded): an entity table
(row_id, customer_id, event_timestamp, label) and two feature views written as Parquet,

- ``customer_profile`` (a fifth of ``--feature-rows``): plan, monthly_charges, an
  ``updated_at`` event time and a ``created_at`` created time, TTL 365 days; some rows
  share (customer, updated_at) with another row and differ in created_at (ties);
- ``usage_events`` (the rest): logins, minutes, an ``event_time``, TTL 30 days; customers
  differ a lot in activity, so that many entity rows find only an expired value.

Timestamps are spread over 2025. Some entity rows are unknown customers, some come before
any feature row, and some are placed on the edges on purpose: at a feature row's own
timestamp, exactly one TTL after it, one second past that, and duplicated entity rows.

Each engine runs in its own process, timed around the join call alone (the entity table is
already in memory, the feature files are read by the join): headway in this interpreter,
Feast in its own virtual environment ``bench/.venv-feast`` (Feast pins pandas < 3, so it
cannot share headway's), made on first use. Peak memory is the worker process's high-water
RSS (VmHWM, read from /proc): for the whole worker, and for the join call alone (the mark
is reset just before the call). ``ru_maxrss`` of a child started with vfork carries the
parent's peak, which would count the data generation, hence /proc.

Both outputs are then compared row by row (aligned on customer, timestamp and row_id, the
original row order): every feature column, nulls equal nulls, floats within 1e-9. Rows that
differ are classified by what their source rows look like (a timestamp equal to the entity
timestamp, a value exactly one TTL old, a tie on (customer, timestamp), ...).

    python bench/pit_join_vs_feast.py --entities 20000 --feature-rows 200000 --keys 2000
    python bench/pit_join_vs_feast.py                       # 1M entity rows, 10M feature rows
    python bench/pit_join_vs_feast.py --string-keys --json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

VENV = Path(__file__).parent / ".venv-feast"
FEAST_PACKAGES = ["feast[duckdb]"]
ROOT = Path(__file__).resolve().parent.parent
T0 = pd.Timestamp("2025-01-01", tz="UTC")
YEAR_S = 365 * 86_400
SERVICE = "churn"
TOLERANCE = 1e-9


@dataclass(frozen=True)
class View:
    name: str
    timestamp: str
    created: str | None
    ttl_days: int
    features: dict[str, str]  # name: type (headway's names: string, float, int)


VIEWS = [
    View(
        "customer_profile",
        "updated_at",
        "created_at",
        365,
        {"plan": "string", "monthly_charges": "float"},
    ),
    View("usage_events", "event_time", None, 30, {"logins": "int", "minutes": "float"}),
]

# ---------------------------------------------------------------------------------------
# data


def _stamps(seconds: np.ndarray) -> pd.Series:
    return pd.Series(T0 + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]")


def _last_within(key: np.ndarray, ts: np.ndarray, window: int) -> np.ndarray:
    """Positions of the rows whose customer has no later row within ``window`` seconds."""
    order = np.lexsort((ts, key))
    k, t = key[order], ts[order]
    later = np.empty(len(order), dtype=bool)
    later[:-1] = (k[1:] == k[:-1]) & (t[1:] - t[:-1] < window)
    later[-1] = False
    return order[~later]


def generate(
    work: Path, entities: int, feature_rows: int, keys: int, seed: int, string_keys: bool
) -> dict[str, int]:
    """Write entities.parquet, customer_profile.parquet and usage_events.parquet; return
    counts of the cases planted."""
    rng = np.random.default_rng(seed)
    max_key = int(keys * 1.05)  # entity keys above `keys` are unknown to both views
    n_profile = feature_rows // 5
    n_usage = feature_rows - n_profile

    # customer_profile: customers 0 .. 95% of keys, 3% of rows tie an earlier (key, ts)
    n_tie = int(n_profile * 0.03)
    n_base = n_profile - n_tie
    p_key = rng.integers(0, int(keys * 0.95), n_base)
    p_ts = rng.integers(0, YEAR_S, n_base)
    copy = rng.integers(0, n_base, n_tie)
    p_key = np.concatenate([p_key, p_key[copy]])
    p_ts = np.concatenate([p_ts, p_ts[copy]])
    created_us = p_ts * 1_000_000 + rng.integers(0, 3 * 86_400 * 1_000_000, n_profile)
    profile = pd.DataFrame(
        {
            "customer_id": p_key,
            "updated_at": p_ts,
            "created_us": created_us,
            "plan": rng.choice(np.array(["basic", "standard", "premium", "enterprise"]), n_profile),
            "monthly_charges": rng.uniform(10.0, 200.0, n_profile),
        }
    )
    # a full tie (key, ts, created) would let both engines pick either row: none here
    profile = profile.drop_duplicates(["customer_id", "updated_at", "created_us"])
    profile = profile.sample(frac=1.0, random_state=seed).reset_index(drop=True)

    # usage_events: customers 3% .. 100% of keys, activity lognormal (many quiet ones)
    active = np.arange(int(keys * 0.03), keys)
    weight = rng.lognormal(0.0, 1.5, len(active))
    u_key = rng.choice(active, n_usage, p=weight / weight.sum())
    usage = pd.DataFrame(
        {
            "customer_id": u_key,
            "event_time": rng.integers(0, YEAR_S, n_usage),
            "logins": rng.poisson(3, n_usage).astype("int64"),
            "minutes": rng.exponential(30.0, n_usage),
        }
    )
    # without a created timestamp a (key, ts) tie has no winner: none here
    usage = usage.drop_duplicates(["customer_id", "event_time"]).reset_index(drop=True)

    # entities: uniform, then edge cases planted on disjoint rows
    e_key = rng.integers(0, max_key, entities)
    e_ts = rng.integers(0, YEAR_S, entities)
    order = rng.permutation(entities)
    planted: dict[str, int] = {}
    start = 0

    def take(name: str, share: float) -> np.ndarray:
        nonlocal start
        n = int(entities * share)
        rows = order[start : start + n]
        start += n
        planted[name] = n
        return rows

    rows = take("at a usage_events timestamp", 0.03)
    pick = rng.integers(0, len(usage), len(rows))
    e_key[rows], e_ts[rows] = (
        usage["customer_id"].to_numpy()[pick],
        usage["event_time"].to_numpy()[pick],
    )
    rows = take("at a customer_profile timestamp", 0.02)
    pick = rng.integers(0, len(profile), len(rows))
    e_key[rows], e_ts[rows] = (
        profile["customer_id"].to_numpy()[pick],
        profile["updated_at"].to_numpy()[pick],
    )
    rows = take("at a tied customer_profile timestamp", 0.01)
    tied = profile[profile.duplicated(["customer_id", "updated_at"], keep=False)]
    pick = rng.integers(0, max(len(tied), 1), len(rows))
    if len(tied):
        e_key[rows], e_ts[rows] = (
            tied["customer_id"].to_numpy()[pick],
            tied["updated_at"].to_numpy()[pick],
        )
    # TTL edges, from source rows with no newer row of the customer within the TTL (so
    # the value one TTL old is the one the join must find, or just miss)
    for view, frame, ts, ttl_s, cases in (
        ("usage_events", usage, "event_time", 30 * 86_400, ((0.01, 0), (0.005, 1))),
        ("customer_profile", profile, "updated_at", 365 * 86_400, ((0.005, 0), (0.0025, 1))),
    ):
        last = _last_within(frame["customer_id"].to_numpy(), frame[ts].to_numpy(), ttl_s + 1)
        for share, extra in cases:
            rows = take(f"{view} timestamp + {ttl_s // 86_400}d{' + 1s' if extra else ''}", share)
            pick = rng.choice(last, len(rows))
            e_key[rows] = frame["customer_id"].to_numpy()[pick]
            e_ts[rows] = frame[ts].to_numpy()[pick] + ttl_s + extra
    rows = take("duplicate of another entity row", 0.005)
    source = order[start : start + len(rows)] if start + len(rows) <= entities else rows
    e_key[rows], e_ts[rows] = e_key[source], e_ts[source]

    names = np.array([f"C{i:07d}" for i in range(max_key)], dtype=object) if string_keys else None

    def key_column(values: np.ndarray) -> np.ndarray:
        return names[values] if names is not None else values.astype("int64")

    entity_frame = pd.DataFrame(
        {
            "row_id": np.arange(entities, dtype="int64"),
            "customer_id": key_column(e_key),
            "event_timestamp": _stamps(e_ts),
            "label": rng.integers(0, 2, entities).astype("int64"),
        }
    )
    entity_frame.to_parquet(work / "entities.parquet", index=False)
    profile = profile.assign(
        customer_id=key_column(profile["customer_id"].to_numpy()),
        updated_at=_stamps(profile["updated_at"].to_numpy()),
        created_at=(T0 + pd.to_timedelta(profile["created_us"].to_numpy(), unit="us")).astype(
            "datetime64[us, UTC]"
        ),
    ).drop(columns="created_us")
    profile[["customer_id", "updated_at", "created_at", "plan", "monthly_charges"]].to_parquet(
        work / "customer_profile.parquet", index=False
    )
    usage = usage.assign(
        customer_id=key_column(usage["customer_id"].to_numpy()),
        event_time=_stamps(usage["event_time"].to_numpy()),
    )
    usage.to_parquet(work / "usage_events.parquet", index=False)
    stats = {
        "entity_rows": entities,
        "customer_profile_rows": len(profile),
        "usage_events_rows": len(usage),
        "customer_profile_tied_rows": int(
            profile.duplicated(["customer_id", "updated_at"], keep=False).sum()
        ),
    }
    stats.update({f"planted: {k}": v for k, v in planted.items()})
    return stats


def write_headway_definitions(work: Path) -> None:
    import yaml

    spec = {
        "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
        "feature_views": [
            {
                "name": v.name,
                "entities": ["customer"],
                "source": {"type": "parquet", "path": f"{v.name}.parquet"},
                "timestamp_column": v.timestamp,
                **({"created_timestamp_column": v.created} if v.created else {}),
                "ttl": f"{v.ttl_days}d",
                "features": [{"name": n, "type": t} for n, t in v.features.items()],
            }
            for v in VIEWS
        ],
        "services": [{"name": SERVICE, "features": [v.name for v in VIEWS]}],
    }
    (work / "features.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


FEAST_TYPES = {"string": "String", "float": "Float64", "int": "Int64"}


def write_feast_repo(work: Path, string_keys: bool) -> Path:
    repo = work / "feast_repo"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: pit_bench\n"
        "registry: data/registry.db\n"
        "provider: local\n"
        "offline_store:\n"
        "  type: duckdb\n"
        "online_store:\n"
        "  type: sqlite\n"
        "  path: data/online_store.db\n"
        "entity_key_serialization_version: 3\n"
    )
    lines = [
        "from datetime import timedelta",
        "",
        "from feast import Entity, FeatureView, Field, FileSource, ValueType",
        "from feast.types import Float64, Int64, String",
        "",
        "customer = Entity(name='customer', join_keys=['customer_id'], "
        f"value_type=ValueType.{'STRING' if string_keys else 'INT64'})",
    ]
    for v in VIEWS:
        created = f", created_timestamp_column={v.created!r}" if v.created else ""
        fields = ", ".join(
            f"Field(name={n!r}, dtype={FEAST_TYPES[t]})" for n, t in v.features.items()
        )
        lines += [
            "",
            f"{v.name}_source = FileSource(name={v.name + '_source'!r}, "
            f"path={str(work / (v.name + '.parquet'))!r}, "
            f"timestamp_field={v.timestamp!r}{created})",
            f"{v.name} = FeatureView(name={v.name!r}, entities=[customer], "
            f"ttl=timedelta(days={v.ttl_days}), schema=[{fields}], source={v.name}_source)",
        ]
    lines += ["", f"OBJECTS = [customer, {', '.join(v.name for v in VIEWS)}]", ""]
    (repo / "definitions.py").write_text("\n".join(lines))
    return repo


# ---------------------------------------------------------------------------------------
# workers (each run as `python -c`, in its own process)

MEMORY = r"""
def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
"""

HEADWAY_WORKER = (
    MEMORY
    + r"""
import json, sys, time
from pathlib import Path
import duckdb, pandas as pd
from headway.features.definitions import load_definitions
from headway.features.pit import historical_features
work = Path(sys.argv[1])
entities = pd.read_parquet(work / "entities.parquet")
definitions = load_definitions(work / "features.yaml")
rss_before, peak_before = _status("VmRSS"), _status("VmHWM")
reset = _reset_peak()
started = time.perf_counter()
out = historical_features(entities, definitions, "churn", root=work)
wall = time.perf_counter() - started
join_peak = _status("VmHWM")
out.to_parquet(work / "out_headway.parquet", index=False)
report = Path(sys.argv[-1])
report.write_text(json.dumps({
    "wall_s": wall, "rows": len(out), "rss_before": rss_before,
    "join_peak": join_peak if reset else None,
    "process_peak": max(peak_before, _status("VmHWM")),
    "versions": {"pandas": pd.__version__, "duckdb": duckdb.__version__}}))
"""
)

FEAST_WORKER = (
    MEMORY
    + r"""
import importlib.util, json, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import duckdb, feast, pandas as pd
from feast import FeatureStore
work, features = Path(sys.argv[1]), sys.argv[2].split(",")
repo = work / "feast_repo"
spec = importlib.util.spec_from_file_location("pit_bench_definitions", repo / "definitions.py")
definitions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(definitions)
store = FeatureStore(repo_path=str(repo))
store.apply(definitions.OBJECTS)
entity_df = pd.read_parquet(work / "entities.parquet")
rss_before, peak_before = _status("VmRSS"), _status("VmHWM")
reset = _reset_peak()
started = time.perf_counter()
out = store.get_historical_features(entity_df=entity_df, features=features).to_df()
wall = time.perf_counter() - started
join_peak = _status("VmHWM")
out.to_parquet(work / "out_feast.parquet", index=False)
try:
    import ibis
    ibis_version = ibis.__version__
except Exception:
    ibis_version = None
report = Path(sys.argv[-1])
report.write_text(json.dumps({
    "wall_s": wall, "rows": len(out), "rss_before": rss_before,
    "join_peak": join_peak if reset else None,
    "process_peak": max(peak_before, _status("VmHWM")),
    "versions": {"feast": feast.__version__, "pandas": pd.__version__,
                 "duckdb": duckdb.__version__, "ibis": ibis_version}}))
"""
)


def run_worker(python: str, code: str, args: list[str], log: Path, env: dict | None = None) -> dict:
    """Run a worker; it writes its JSON report to the file named by its last argument
    (stdout is not used: DuckDB may draw a progress bar there)."""
    report = log.with_suffix(".json")
    report.unlink(missing_ok=True)
    with log.open("w") as out:
        proc = subprocess.run(
            [python, "-c", code, *args, str(report)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            check=False,
        )
    if proc.returncode != 0 or not report.exists():
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"worker {python} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(report.read_text())


def feast_python() -> str:
    python = VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import feast, duckdb, ibis"], capture_output=True
        )
        if check.returncode == 0:
            return str(python)
    else:
        print(f"creating {VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *FEAST_PACKAGES],
        check=True,
    )
    return str(python)


# ---------------------------------------------------------------------------------------
# comparison


def _same(x: pd.Series, y: pd.Series) -> np.ndarray:
    xn, yn = x.isna().to_numpy(), y.isna().to_numpy()
    same = xn & yn
    both = ~xn & ~yn
    numeric = pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y)
    if numeric:
        xv = x.to_numpy(dtype="float64", na_value=np.nan)
        yv = y.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            same |= both & (np.abs(xv - yv) <= TOLERANCE)
    else:
        xv = x.astype(object).to_numpy()
        yv = y.astype(object).to_numpy()
        same |= both & (xv == yv)
    return same


def compare(work: Path) -> tuple[dict, pd.DataFrame]:
    a = pd.read_parquet(work / "out_headway.parquet")
    b = pd.read_parquet(work / "out_feast.parquet")
    result: dict = {"rows_headway": len(a), "rows_feast": len(b)}
    keys = ["customer_id", "event_timestamp", "row_id"]
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    if len(a) != len(b) or not np.array_equal(a["row_id"].to_numpy(), b["row_id"].to_numpy()):
        extra = set(b["row_id"]) ^ set(a["row_id"])
        result.update(identical=False, error=f"different row sets ({len(extra)} row_ids differ)")
        return result, pd.DataFrame()
    shared = [c for c in ("customer_id", "label") if c in b.columns]
    stamps_a = pd.to_datetime(a["event_timestamp"], utc=True).dt.as_unit("us").astype("int64")
    stamps_b = pd.to_datetime(b["event_timestamp"], utc=True).dt.as_unit("us").astype("int64")
    result["entity_columns_equal"] = bool(
        all(a[c].astype(str).equals(b[c].astype(str)) for c in shared)
        and np.array_equal(stamps_a.to_numpy(), stamps_b.to_numpy())
    )
    per_column: dict[str, int] = {}
    bad = np.zeros(len(a), dtype=bool)
    columns = [f for v in VIEWS for f in v.features]
    for column in columns:
        ok = _same(a[column], b[column])
        per_column[column] = int((~ok).sum())
        bad |= ~ok
    result["mismatched_rows"] = int(bad.sum())
    result["mismatches_per_column"] = per_column
    result["null_rows_headway"] = {c: int(a[c].isna().sum()) for c in columns}
    result["identical"] = bool(result["entity_columns_equal"] and not bad.any())
    diffs = a.loc[bad, ["row_id", "customer_id", "event_timestamp", *columns]].copy()
    for column in columns:
        diffs[f"{column}__feast"] = b.loc[bad, column].to_numpy()
    return result, diffs


def explain(work: Path, diffs: pd.DataFrame, limit: int = 5) -> dict:
    """Classify mismatched rows by the source rows around their timestamp."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    frame = diffs[["row_id", "customer_id", "event_timestamp"]].copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    con.register("m", frame)
    report: dict = {}
    for view in VIEWS:
        features = list(view.features)
        wrong = np.zeros(len(diffs), dtype=bool)
        for f in features:
            wrong |= ~_same(
                diffs[f].reset_index(drop=True), diffs[f"{f}__feast"].reset_index(drop=True)
            )
        ids = diffs["row_id"].to_numpy()[wrong]
        if not len(ids):
            continue
        con.register("w", pd.DataFrame({"row_id": ids}))
        path = str(work / f"{view.name}.parquet").replace("'", "''")
        created = f'max(CAST(s."{view.created}" AS TIMESTAMPTZ))' if view.created else "NULL"
        created_distinct = f'count(DISTINCT s."{view.created}")' if view.created else "count(*)"
        rows = con.execute(
            f"""
            WITH m2 AS (SELECT m.* FROM m JOIN w USING (row_id)),
            latest AS (
                SELECT m2.row_id, max(CAST(s."{view.timestamp}" AS TIMESTAMPTZ)) AS ts
                FROM m2 JOIN read_parquet('{path}') s
                  ON s.customer_id = m2.customer_id
                 AND CAST(s."{view.timestamp}" AS TIMESTAMPTZ) <= m2.event_timestamp
                GROUP BY m2.row_id)
            SELECT m2.row_id, m2.event_timestamp, latest.ts, count(s.customer_id) AS n_at_ts,
                   {created_distinct} AS n_created, {created} AS created
            FROM m2 LEFT JOIN latest USING (row_id)
            LEFT JOIN read_parquet('{path}') s
              ON s.customer_id = m2.customer_id
             AND CAST(s."{view.timestamp}" AS TIMESTAMPTZ) = latest.ts
            GROUP BY ALL
            """
        ).df()
        ttl = pd.Timedelta(days=view.ttl_days)
        entity_ts = pd.to_datetime(rows["event_timestamp"], utc=True)
        age = entity_ts - pd.to_datetime(rows["ts"], utc=True)
        categories = np.select(
            [
                rows["ts"].isna(),
                age > ttl,
                age == ttl,
                age == pd.Timedelta(0),
                rows["n_at_ts"] > 1,
            ],
            [
                "no source row at or before the entity timestamp",
                "latest source row older than the TTL",
                "latest source row exactly one TTL old (boundary)",
                "source timestamp equal to the entity timestamp",
                "several source rows at the latest timestamp (tie)",
            ],
            default="a single latest source row within the TTL",
        )
        full_ties = int(((rows["n_at_ts"] > 1) & (rows["n_created"] < rows["n_at_ts"])).sum())
        counts = pd.Series(categories).value_counts().to_dict()
        examples = diffs[wrong].head(limit)
        report[view.name] = {
            "rows": len(ids),
            "categories": {k: int(v) for k, v in counts.items()},
            "ties_without_distinct_created": full_ties,
            "examples": json.loads(examples.to_json(orient="records", date_format="iso")),
        }
    con.close()
    return report


# ---------------------------------------------------------------------------------------
# report


def _gb(value: int | None) -> float | None:
    return None if value is None else value / 2**30


def table_rows(result: dict) -> list[dict]:
    """The table's rows: one per engine, the ratio is Feast's wall time over headway's."""
    engines = result["engines"]
    identical = result.get("comparison", {}).get("identical")
    base = engines["headway"]["wall_s"]
    return [
        {
            "engine": name,
            "wall_s": round(e["wall_s"], 3),
            "peak_gb": round(e["process_peak_gb"], 3),
            "join_peak_gb": None if e["join_peak_gb"] is None else round(e["join_peak_gb"], 3),
            "rows": e["rows"],
            "ratio": round(e["wall_s"] / base, 2),
            "identical": None if identical is None else ("yes" if identical else "no"),
        }
        for name, e in engines.items()
    ]


def print_table(result: dict) -> None:
    header = [
        "engine",
        "wall s",
        "peak GB (process)",
        "peak GB (join)",
        "rows",
        "ratio",
        "identical",
    ]
    body = [
        [
            r["engine"],
            f"{r['wall_s']:.2f}",
            f"{r['peak_gb']:.2f}",
            "-" if r["join_peak_gb"] is None else f"{r['join_peak_gb']:.2f}",
            f"{r['rows']:,}",
            f"{r['ratio']:.2f}",
            r["identical"] or "-",
        ]
        for r in result["table"]
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in body:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print("ratio: Feast wall seconds / headway wall seconds")


def print_report(result: dict) -> None:
    print(f"command: {result['command']}")
    print(f"work dir: {result['work_dir']}")
    print("data: " + ", ".join(f"{k} {v:,}" for k, v in result["data"].items()))
    print(f"versions: {json.dumps(result['versions'])}")
    print()
    print_table(result)
    comparison = result.get("comparison")
    if comparison:
        print()
        if "error" in comparison:
            print(f"comparison: {comparison['error']}")
            return
        print(
            f"row-by-row: {comparison['mismatched_rows']:,} of {comparison['rows_headway']:,} rows "
            f"differ; per column {comparison['mismatches_per_column']}; entity columns equal: "
            f"{comparison['entity_columns_equal']}"
        )
        print(f"rows without a value (headway): {comparison['null_rows_headway']}")
        for view, info in result.get("differences", {}).items():
            print(f"  {view}: {info['rows']:,} rows differ")
            for category, n in info["categories"].items():
                print(f"    {n:>9,}  {category}")
            if info["ties_without_distinct_created"]:
                print(
                    f"    {info['ties_without_distinct_created']:,} of them tie on the created "
                    "timestamp too: either row is a valid answer"
                )
            for example in info["examples"]:
                print(f"    e.g. {example}")
    for note in result.get("notes", []):
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=1_000_000, help="entity rows")
    parser.add_argument(
        "--feature-rows", type=int, default=10_000_000, help="feature rows over both views (1:4)"
    )
    parser.add_argument("--keys", type=int, default=100_000, help="customers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--string-keys", action="store_true", help="customer_id as strings")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--skip-feast", action="store_true", help="run headway only")
    parser.add_argument("--work-dir", type=Path, help="where the data goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir")
    args = parser.parse_args(argv)

    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", *argv])
    temporary = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="pit-bench-")) if temporary else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        python = None if args.skip_feast else feast_python()
        log(f"generating data in {work}")
        started = time.perf_counter()
        data = generate(
            work, args.entities, args.feature_rows, args.keys, args.seed, args.string_keys
        )
        gc.collect()
        log(f"  {time.perf_counter() - started:.1f}s")
        write_headway_definitions(work)
        engines: dict[str, dict] = {}
        versions: dict[str, dict] = {}

        log("headway: historical_features")
        report = run_worker(sys.executable, HEADWAY_WORKER, [str(work)], work / "headway.log")
        versions["headway"] = report.pop("versions")
        engines["headway"] = report
        if python:
            write_feast_repo(work, args.string_keys)
            features = [f"{v.name}:{f}" for v in VIEWS for f in v.features]
            env = {**os.environ, "FEAST_USAGE": "False"}
            log("feast: get_historical_features(...).to_df()")
            report = run_worker(
                python, FEAST_WORKER, [str(work), ",".join(features)], work / "feast.log", env
            )
            versions["feast"] = report.pop("versions")
            engines["feast"] = report
        for e in engines.values():
            e["process_peak_gb"] = _gb(e.pop("process_peak"))
            e["join_peak_gb"] = _gb(e.pop("join_peak"))
            e["rss_before_gb"] = _gb(e.pop("rss_before"))
        result: dict = {
            "command": command,
            "work_dir": str(work),
            "data": data,
            "versions": versions,
            "engines": engines,
            "notes": [],
        }
        if "feast" in engines:
            e = engines["feast"]
            e["ratio_wall"] = e["wall_s"] / engines["headway"]["wall_s"]
            e["ratio_peak"] = e["process_peak_gb"] / engines["headway"]["process_peak_gb"]
            log("comparing row by row")
            comparison, diffs = compare(work)
            result["comparison"] = comparison
            if len(diffs):
                result["differences"] = explain(work, diffs)
                result["notes"].append(
                    "rows differ: see the categories above; the examples show headway's "
                    "values and Feast's (columns ending in __feast)"
                )
        result["table"] = table_rows(result)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print_report(result)
        return 0 if result.get("comparison", {}).get("identical", True) else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
