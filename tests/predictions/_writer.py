"""``python -m tests.predictions._writer ROOT [FSYNC]``: append batches to the embedded log in
ROOT forever, printing each prediction id once ``append`` has returned for its batch."""

from __future__ import annotations

import sys
from pathlib import Path

from headway.predictions import EmbeddedPredictionLog
from tests.predictions._records import make_records


def main() -> None:
    root = Path(sys.argv[1])
    fsync = sys.argv[2] if len(sys.argv) > 2 else "batch"
    # Small segments: the writer also rolls over to new segments while it is killed.
    log = EmbeddedPredictionLog(root, fsync=fsync, max_segment_bytes=4096)
    batch = 0
    while True:
        records = make_records(7, prefix=f"b{batch}")
        log.append(records)
        sys.stdout.write("".join(f"{r.prediction_id}\n" for r in records))
        sys.stdout.flush()
        batch += 1


if __name__ == "__main__":
    main()
