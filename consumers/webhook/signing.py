"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body.

Headers on every delivery:

- ``X-Fanout-Timestamp``: Unix seconds when the request was signed;
- ``X-Fanout-Signature``: ``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``.

A receiver recomputes the HMAC over the raw body it received, compares in
constant time, and rejects a timestamp outside its tolerance (replay defence).
``verify`` does exactly that and can be copied into a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Fanout-Signature"
TIMESTAMP_HEADER: Final = "X-Fanout-Timestamp"
SCHEME: Final = "v1"
DEFAULT_TOLERANCE_SECONDS: Final = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Fanout-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    timestamp_header: str,
    signature_header: str,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when the signature matches ``body`` and the timestamp is within tolerance."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate.strip())
        for candidate in signature_header.split(",")
    )
