"""Online feature reads: p50/p99 latency of 1 and 100 entities, SQLite and Redis.

Writes ``--entities`` entities (4 features) into each store, then times ``--reads`` reads
of 1 and of 100 random entities, in this process (the way the server reads). Redis runs
when ``redis-server`` is on PATH (started on a free 127.0.0.1 port, no persistence) and the
``redis`` package is installed (``pip install 'headway[redis]'``).

    python bench/online_read_latency.py [--entities 100000] [--reads 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from headway.features.online import BaseOnlineStore, RedisOnlineStore, SqliteOnlineStore

FEATURES = ["plan", "charges", "logins", "active"]


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "charges": rng.normal(50, 10, n).round(2),
            "logins": rng.integers(0, 40, n),
            "active": rng.random(n) < 0.8,
        }
    )


def _measure(store: BaseOnlineStore, n: int, reads: int, size: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(reads):
        keys = [{"customer_id": int(k)} for k in rng.integers(0, n, size)]
        start = time.perf_counter()
        store.read("profile", keys, features=FEATURES, ttl=None)
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = _rows(args.entities, args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[tuple[str, BaseOnlineStore, subprocess.Popen[bytes] | None]] = [
            ("sqlite", SqliteOnlineStore(Path(tmp) / "online.db"), None)
        ]
        server = shutil.which("redis-server")
        if server:
            port = _free_port()
            proc = subprocess.Popen(
                [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            try:
                stores.append(("redis", RedisOnlineStore(f"redis://127.0.0.1:{port}/0"), proc))
            except Exception as exc:  # the client is not installed: SQLite only
                print(f"redis skipped: {exc}", file=sys.stderr)
                proc.terminate()
        for name, store, proc in stores:
            start = time.perf_counter()
            store.write(
                "profile", rows, keys=["customer_id"], features=FEATURES,
                timestamp_column="updated_at",
            )  # fmt: skip
            write_s = time.perf_counter() - start
            for size in (1, 100):
                results.append(
                    {"store": name, "entities_per_read": size, "write_seconds": round(write_s, 2),
                     **_measure(store, args.entities, args.reads, size, args.seed)}
                )  # fmt: skip
            store.close()
            if proc is not None:
                proc.terminate()
    command = "python bench/online_read_latency.py " + " ".join(sys.argv[1:])
    if args.json:
        print(json.dumps({"command": command, "results": results}, indent=2))
        return
    print(f"{args.entities:,} entities written, {args.reads:,} reads per row; {command}")
    print("store   entities  p50 ms  p99 ms")
    for r in results:
        print(
            f"{r['store']:<7} {r['entities_per_read']:>8}  {r['p50_ms']:6.3f}  {r['p99_ms']:6.3f}"
        )


if __name__ == "__main__":
    main()
