"""Claim check: an envelope too large for the topic is stored in S3 and a pointer published."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.errors import PoisonRecordError
from router.normalise import Outbound, pointer_body

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Key layout: one object per envelope id, so re-publishing a record overwrites the
# same object instead of piling up copies.
KEY_PREFIX = "envelopes/"
BACKFILL_KEY_PREFIX = "backfill/"
"""Where ``fanout backfill`` stores its claim checks: operators may write there, not under
the router's ``envelopes/``."""


class ClaimCheckWriter:
    """Stores whole envelopes in the hub's payload bucket."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = KEY_PREFIX) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix

    def key_for(self, message: Outbound) -> str:
        """The object key of a message's stored envelope."""
        return f"{self._prefix}{message.table}/{message.envelope_id}.json"

    def offload(self, message: Outbound, limit: int | None = None) -> Outbound:
        """Store the full envelope and return the pointer message to publish instead.

        Raises ``PoisonRecordError`` when even the pointer is over ``limit`` bytes (if given)
        (its context attributes and SNS attributes come from item data: a long key,
        entity or list of changed names), before anything is stored; botocore errors
        when the object cannot be written (the record is then retried).
        """
        key = self.key_for(message)
        pointer = message.as_pointer(pointer_body(message.body, f"s3://{self._bucket}/{key}"))
        if limit is not None and pointer.size > limit:
            raise PoisonRecordError(
                f"the claim-check pointer is {pointer.size} bytes, over the topic's limit of"
                f" {limit}: the item's key, entity or changed attribute names are too long"
            )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=message.body.encode("utf-8"),
            ContentType="application/cloudevents+json; charset=utf-8",
        )
        return pointer
