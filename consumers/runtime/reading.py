"""From an unwrapped message to the newest ``Envelope``, following claim checks."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, Final

from pydantic import ValidationError

from consumers.runtime.claimcheck import PayloadResolver
from consumers.runtime.errors import InvalidMessageError, RefusedPointerError
from consumers.runtime.messages import Delivery, S3Location, extended_pointer, read_json
from schemas import (
    SUPPORTED_VERSIONS,
    UPCASTERS,
    Envelope,
    UnsupportedVersionError,
    UpcastError,
    Upcasters,
    parse_envelope,
)

# A schemaversion short and plain enough to name in an error (and so in a log line).
_NAMEABLE_VERSION: Final = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")
# Validation problems named in one error; the rest are counted.
_MAX_PROBLEMS: Final = 5


def validation_problems(error: ValidationError, where: str, *, under: str = "") -> str:
    """The count and the first problems of ``error``, each named by its field's path.

    A path starts with ``under`` when given (``data.new``); a problem of the whole
    document is named ``where``. pydantic's ``msg`` says what was expected (a pattern,
    a literal, a type); its ``input`` holds the value and is left out.
    """
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    named = "; ".join(
        f"{'.'.join([*filter(None, [under]), *map(str, e['loc'])]) or where}: {e['msg']}"
        for e in problems[:_MAX_PROBLEMS]
    )
    return f"{error.error_count()} error(s): {named}"


def validation_kinds(error: ValidationError, *, under: str = "") -> str:
    """``validation_problems`` with each problem's kind (``missing``) instead of its message.

    For a log line: a model's own validator may quote the value in its message.
    """
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    named = "; ".join(
        f"{'.'.join([*filter(None, [under]), *map(str, e['loc'])]) or under}: {e['type']}"
        for e in problems[:_MAX_PROBLEMS]
    )
    return f"{error.error_count()} error(s): {named}"


class EnvelopeReader:
    """Reads any supported envelope version, resolving both pointer formats.

    A hub claim check (the envelope's ``dataref``) is followed only into the hub's
    own payload bucket (``hub_payloads``); an extended-client pointer (another
    producer's offloaded body) only into ``extended_payloads``. The two lists are
    kept apart so that trusting a producer's bucket for its own pointers never lets
    an envelope's ``dataref`` name that bucket.

    Raises ``InvalidMessageError`` / ``RefusedPointerError`` (permanent) for a
    message that can never be read; S3 outages propagate as retryable errors. The
    errors name the field and what is wrong with it, never a value of the message.
    """

    def __init__(
        self,
        hub_payloads: PayloadResolver,
        extended_payloads: PayloadResolver,
        upcasters: Upcasters = UPCASTERS,
    ) -> None:
        self._hub = hub_payloads
        self._extended = extended_payloads
        self._upcasters = upcasters

    def read(self, delivery: Delivery) -> Envelope:
        """The envelope the message carries, with its data inline."""
        document = delivery.document
        if (pointer := extended_pointer(delivery)) is not None:
            document = self._load(self._extended, pointer)
        envelope = self.parse(document)
        if envelope.dataref is None:
            return envelope
        full = self.parse(self._load(self._hub, S3Location.from_uri(envelope.dataref)))
        if full.id != envelope.id or full.dataref is not None:
            raise RefusedPointerError(
                f"{envelope.dataref} does not hold envelope {envelope.id} with its data"
            )
        return full

    def parse(self, document: Any) -> Envelope:
        """Validate one JSON document as an envelope, upcasting older versions first.

        Pure: whatever it raises would be raised again on every delivery, so every
        failure is an ``InvalidMessageError``.
        """
        if not isinstance(document, dict):
            raise InvalidMessageError(
                f"an envelope is a JSON object, got {type(document).__name__}"
            )
        version = document.get("schemaversion")
        if version is not None and not isinstance(version, str):
            raise InvalidMessageError(
                f"schemaversion: must be a string, got {type(version).__name__}"
            )
        try:
            envelope = parse_envelope(document, self._upcasters)
        except UnsupportedVersionError:
            named = repr(version) if version and _NAMEABLE_VERSION.fullmatch(version) else "given"
            raise InvalidMessageError(
                f"schemaversion: version {named} is not supported"
                f" (supported: {', '.join(SUPPORTED_VERSIONS)})"
            ) from None
        except UpcastError as error:
            raise InvalidMessageError(str(error)) from None
        except ValidationError as error:
            # pydantic's ``msg`` says what was expected (a pattern, a literal, a type);
            # its ``input`` holds the value and is left out.
            raise InvalidMessageError(
                f"envelope failed validation: {validation_problems(error, 'envelope')}"
            ) from None
        except Exception as error:  # noqa: BLE001 - pure code: any failure is permanent
            # An upcaster (the consumer's own code) failing on this document fails on
            # every delivery of it: retrying cannot help. Its text may hold values.
            raise InvalidMessageError(
                f"envelope could not be read: {type(error).__name__} while upcasting"
            ) from None
        try:
            # The router writes UTC; an offset that takes a time past year 1 or 9999
            # cannot be compared with any other (the runtime measures latency with it).
            envelope.time.astimezone(UTC)
        except OverflowError:
            raise InvalidMessageError("time: out of range once converted to UTC") from None
        return envelope

    def _load(self, claims: PayloadResolver, location: S3Location) -> Any:
        return read_json(claims.resolve(location), str(location))
