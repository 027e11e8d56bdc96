"""From an unwrapped message to the newest ``Envelope``, following claim checks."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from consumers.runtime.claimcheck import ClaimCheck
from consumers.runtime.errors import InvalidMessageError, RefusedPointerError
from consumers.runtime.messages import Delivery, S3Location, extended_pointer
from schemas import (
    UPCASTERS,
    Envelope,
    UnsupportedVersionError,
    UpcastError,
    Upcasters,
    codec,
    parse_envelope,
)


class EnvelopeReader:
    """Reads any supported envelope version, resolving both pointer formats.

    Raises ``InvalidMessageError`` / ``RefusedPointerError`` (permanent) for a
    message that can never be read; S3 outages propagate as retryable errors.
    """

    def __init__(self, claims: ClaimCheck, upcasters: Upcasters = UPCASTERS) -> None:
        self._claims = claims
        self._upcasters = upcasters

    def read(self, delivery: Delivery) -> Envelope:
        """The envelope the message carries, with its data inline."""
        document = delivery.document
        if (pointer := extended_pointer(delivery)) is not None:
            document = self._load(pointer)
        envelope = self.parse(document)
        if envelope.dataref is None:
            return envelope
        full = self.parse(self._load(S3Location.from_uri(envelope.dataref)))
        if full.id != envelope.id or full.dataref is not None:
            raise RefusedPointerError(
                f"{envelope.dataref} does not hold envelope {envelope.id} with its data"
            )
        return full

    def parse(self, document: Any) -> Envelope:
        """Validate one JSON document as an envelope, upcasting older versions first."""
        if not isinstance(document, dict):
            raise InvalidMessageError(
                f"an envelope is a JSON object, got {type(document).__name__}"
            )
        try:
            return parse_envelope(document, self._upcasters)
        except (UnsupportedVersionError, UpcastError) as error:
            raise InvalidMessageError(str(error)) from None
        except ValidationError as error:
            raise InvalidMessageError(
                f"envelope failed validation: {error.error_count()} error(s): "
                + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['msg']}"
                    for e in error.errors(include_url=False)[:5]
                )
            ) from None

    def _load(self, location: S3Location) -> Any:
        payload = self._claims.resolve(location)
        try:
            return codec.loads(payload)
        except ValueError as error:
            raise InvalidMessageError(f"{location} is not JSON: {error}") from None
