"""The prediction log as Parquet objects on S3 (or any S3-compatible store), spooled locally.

``s3://BUCKET/PREFIX`` holds::

    PREFIX/date=YYYY-MM-DD/part-<uuid>.parquet            predictions (UTC day)
    PREFIX/feedback/date=YYYY-MM-DD/part-<uuid>.parquet   labels (UTC day received)

An object store cannot append, and a request per prediction would be slow, so
:meth:`S3PredictionLog.append` writes to an embedded log in a spool folder on the local
disk (``ROOT/spool/BUCKET/PREFIX``), durably as the embedded log does, and
:meth:`~S3PredictionLog.compact` (also run by :meth:`~S3PredictionLog.close`) uploads the
closed spool segments as Parquet objects, then removes them from the spool. Reads combine
the uploaded objects with this machine's spool; another machine's spool is not seen until
it is uploaded (so a label for a prediction still in another machine's spool is reported
as unknown). An upload that fails leaves the spool as it was, for the next compaction.

What a crash can lose: nothing acknowledged, as long as the spool's disk survives
(``fsync: batch``; with ``fsync: none``, what the operating system had not written to the
spool's disk). A lost spool disk loses what was not uploaded yet: compact often.

Endpoint and credentials come from the standard AWS variables: ``AWS_ENDPOINT_URL_S3``
or ``AWS_ENDPOINT_URL`` (an S3-compatible server such as MinIO), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (or the AWS SDK's other sources:
profiles, instance roles).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from headway.exceptions import ConfigError
from headway.predictions._parquet import Partitions
from headway.predictions.local import EmbeddedPredictionLog
from headway.redact import redact_text, redact_uri

__all__ = ["S3PredictionLog", "parse_s3_url"]

logger = logging.getLogger(__name__)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` -> ``(BUCKET, PREFIX)`` (the prefix without slashes at its ends).

    Raises:
        ConfigError: not of that form.
    """
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if (
        parts.scheme != "s3"
        or not _BUCKET.match(bucket)
        or parts.query
        or parts.fragment
        or "//" in prefix
    ):
        raise ConfigError(
            f"predictions.url (or HEADWAY_PREDICTIONS_URL) {redact_uri(url)!r} is not an "
            "object-store location: use 's3://BUCKET/PREFIX' (endpoint and credentials "
            "come from the AWS_* environment variables)"
        )
    return bucket, prefix


def _endpoint() -> dict[str, str]:
    # pyarrow's S3 client does not read the AWS SDK's endpoint variables itself, so the
    # endpoint of an S3-compatible server is taken from them here.
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return {}
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return {"endpoint_override": parts.netloc, "scheme": parts.scheme or "https"}


class S3PredictionLog(EmbeddedPredictionLog):
    """The prediction log at ``s3://BUCKET/PREFIX``, spooled under ``root`` (see the
    module docstring).

    Args:
        url: ``s3://BUCKET/PREFIX``; the bucket must exist.
        root: local folder for the spool (``ROOT/spool/BUCKET/PREFIX``).
        fsync: ``batch`` or ``none``, for the spool.

    Raises:
        ConfigError: the URL is malformed, or the bucket cannot be reached or does not exist.
    """

    def __init__(self, url: str, root: Path, *, fsync: str = "batch") -> None:
        import pyarrow.fs as pafs

        bucket, prefix = parse_s3_url(url)
        self.url = url
        try:
            filesystem = pafs.S3FileSystem(**_endpoint())
            found = filesystem.get_file_info(bucket)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the prediction log at {redact_uri(url)}: "
                f"{redact_text(str(exc))}. Check the AWS_* variables (endpoint, credentials)."
            ) from exc
        if found.type != pafs.FileType.Directory:
            raise ConfigError(
                f"the bucket {bucket!r} of predictions.url (or HEADWAY_PREDICTIONS_URL) "
                f"{redact_uri(url)} does not exist: create it first"
            )
        base = f"{bucket}/{prefix}" if prefix else bucket
        super().__init__(
            Path(root) / "spool" / bucket / (prefix or "_"),
            fsync=fsync,
            partitions=Partitions(filesystem, base, local=False),
            feedback_partitions=Partitions(filesystem, f"{base}/feedback", local=False),
        )

    def close(self) -> None:
        """Upload what this process and any dead one spooled, then release the spool.

        A failed upload is logged, not raised: the spool keeps the records, and the next
        compaction (of any process) uploads them.
        """
        try:
            self.compact()
        except OSError as exc:
            logger.warning(
                "prediction log %s: upload failed, the records stay in the spool %s: %s",
                redact_uri(self.url),
                self.root,
                redact_text(str(exc)),
            )
        finally:
            super().close()
