"""The audit archive: one S3 object per event, laid out for Athena partition projection.

Key: ``<prefix>/table=<table>/dt=YYYY-MM-DD/hour=HH/<envelope id>.json`` with
the date and hour of the change (UTC). Each object is one JSON Lines line: the
envelope with data inline and every number exactly as published. The key is
the envelope id and the write is conditional (``If-None-Match: *``), so a
redelivered event neither duplicates nor rewrites its record: exactly once.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import ClientError

from consumers.runtime.settings import bucket_name, load_settings
from hubcommon.settings import matching, variable
from schemas import Envelope
from schemas.codec import envelope_json

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The audit log's own environment."""

    bucket: str = variable("AUDIT_BUCKET", bucket_name)
    prefix: str = variable(
        "AUDIT_PREFIX",
        matching(r"[A-Za-z0-9_\-/]+", "letters, digits, '_', '-' and '/'"),
        default="events",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        """Validated settings; ``ConfigurationError`` names a bad variable."""
        return load_settings(cls, environ)


def object_key(envelope: Envelope, prefix: str = "events") -> str:
    """Where the event's record lives: Hive-style partitions by table, day and hour."""
    moment = envelope.time.astimezone(UTC)
    return (
        f"{prefix.strip('/')}/table={quote(envelope.table, safe='')}"
        f"/dt={moment:%Y-%m-%d}/hour={moment:%H}/{quote(envelope.id, safe='')}.json"
    )


def record_of(envelope: Envelope) -> bytes:
    """The JSON Lines record: one line, newline-terminated, numbers exact."""
    return (envelope_json(envelope) + "\n").encode("utf-8")


class AuditArchive:
    """Writes events to the audit bucket, each at most once."""

    def __init__(self, s3: S3Client, settings: AuditSettings) -> None:
        self._s3 = s3
        self._settings = settings

    def write(self, envelope: Envelope) -> bool:
        """Archive the event; False when it was already archived (a redelivery)."""
        try:
            self._s3.put_object(
                Bucket=self._settings.bucket,
                Key=object_key(envelope, self._settings.prefix),
                Body=record_of(envelope),
                ContentType="application/x-ndjson",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise
        return True
