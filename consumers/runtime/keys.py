"""Item keys in the idempotency table (one table, partition key ``pk``, TTL ``expires_at``)."""

from __future__ import annotations

import hashlib
from typing import Final

from hubcommon.limits import DYNAMODB_MAX_PARTITION_KEY_BYTES, SQS_MAX_RETENTION_SECONDS

# Records outlive SQS's longest retention by a day: no copy of a message can
# still be in a queue by then, so every possible redelivery is covered.
RECORD_TTL_SECONDS: Final = SQS_MAX_RETENTION_SECONDS + 24 * 3600

PARTITION_KEY: Final = "pk"
TTL_ATTRIBUTE: Final = "expires_at"

# A key part may use a quarter of DynamoDB's partition key bytes, leaving room
# for the prefix and consumer name; longer key parts are replaced by their digest.
_MAX_PART_BYTES: Final = DYNAMODB_MAX_PARTITION_KEY_BYTES // 4


def bounded(part: str) -> str:
    """``part`` itself when short, else a stable SHA-256 digest of it."""
    if len(part.encode()) <= _MAX_PART_BYTES:
        return part
    return "sha256:" + hashlib.sha256(part.encode()).hexdigest()


def idempotency_key(consumer: str, envelope_id: str) -> str:
    """The record that says whether ``consumer`` handled ``envelope_id``."""
    return f"idempotency#{consumer}#{bounded(envelope_id)}"


def sequence_key(consumer: str, source: str, subject: str) -> str:
    """The mark holding the highest sequence ``consumer`` applied for one item of one table."""
    digest = hashlib.sha256(f"{source}\n{subject}".encode()).hexdigest()
    return f"sequence#{consumer}#{digest}"
