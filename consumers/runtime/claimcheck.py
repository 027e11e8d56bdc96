"""Claim-check resolution: fetch a pointer's payload from S3, only from trusted buckets.

A pointer that names any other bucket is refused as a permanent error: following
it would let whoever can publish to the topic make the consumer read (and act on)
objects from anywhere its role can reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Protocol

from botocore.exceptions import ClientError

from consumers.runtime.errors import RefusedPointerError
from consumers.runtime.messages import S3Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# An envelope is at most two DynamoDB items (400 KB each) plus context; other
# producers' extended-client payloads can be far larger (up to 2 GB). A Lambda
# function holds the payload in memory, so anything beyond this is refused.
MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024

# S3 error codes that mean the object will never be readable as named.
_GONE: Final = frozenset({"NoSuchKey", "NoSuchBucket", "InvalidObjectState"})
# HTTP statuses of a GetObject that asking again cannot change: the request itself is
# refused (400, e.g. a key S3 cannot take) or nothing is there (404, whatever the code
# says: a HEAD-style answer carries only "404"). Other statuses (403 while a grant is
# fixed, 5xx, throttling) may pass, so they are retried.
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
_NEVER_READABLE_STATUSES: Final = frozenset({400, 404})


class PayloadStore(Protocol):
    """Where offloaded payloads are read from."""

    def fetch(self, location: S3Location, max_bytes: int) -> bytes:
        """The object's bytes; ``RefusedPointerError`` if it can never be read."""
        ...


class S3PayloadStore:
    """``PayloadStore`` over an S3 client."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    def fetch(self, location: S3Location, max_bytes: int) -> bytes:
        """Read the whole object; other S3 errors propagate (retryable)."""
        try:
            response = self._s3.get_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _GONE or status in _NEVER_READABLE_STATUSES:
                raise RefusedPointerError(f"{location} cannot be read: {code}") from None
            raise
        body = response["Body"]
        if response.get("ContentLength", 0) > max_bytes:
            body.close()
            raise RefusedPointerError(f"{location} is larger than {max_bytes} bytes")
        data: bytes = body.read()
        return data


class PayloadResolver:
    """Resolves one kind of pointer, refusing any bucket outside its allowed set."""

    def __init__(
        self,
        store: PayloadStore,
        allowed_buckets: Iterable[str],
        max_bytes: int = MAX_PAYLOAD_BYTES,
        *,
        kind: str = "pointer",
    ) -> None:
        self._store = store
        self._allowed = frozenset(allowed_buckets)
        self._max_bytes = max_bytes
        self._kind = kind

    def resolve(self, location: S3Location) -> bytes:
        """The payload at ``location``; ``RefusedPointerError`` for an untrusted bucket."""
        if location.bucket not in self._allowed:
            allowed = ", ".join(sorted(self._allowed)) or "no bucket (none is configured)"
            raise RefusedPointerError(
                f"{self._kind} to bucket {location.bucket!r} refused: only {allowed} may hold"
                " these payloads"
            )
        return self._store.fetch(location, self._max_bytes)
