"""Item keys in the idempotency table (one table, partition key ``pk``, TTL ``expires_at``)."""

from __future__ import annotations

import hashlib
from typing import Final

# Lease and record lifetimes are measured against SQS's longest retention:
# no copy of a message can exist in a queue after 14 days
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html),
# so a record kept one day longer covers every possible redelivery.
SQS_MAX_RETENTION_SECONDS: Final = 14 * 24 * 3600
RECORD_TTL_SECONDS: Final = SQS_MAX_RETENTION_SECONDS + 24 * 3600

PARTITION_KEY: Final = "pk"
TTL_ATTRIBUTE: Final = "expires_at"

# DynamoDB allows 2048 bytes in a partition key
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html);
# longer key parts are replaced by their digest.
_MAX_PART_BYTES: Final = 512


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
