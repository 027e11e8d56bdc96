"""The consumer runtime: write ``def handle(event: Envelope) -> None``, get a correct SQS consumer.

    from consumers.runtime import Envelope, PermanentError, consumer

    @consumer(skip_stale=True)
    def handler(event: Envelope) -> None:
        ...

See ``docs/writing-a-consumer.md``.
"""

from consumers.runtime.core import Consumer, ConsumerHandler, Handle, Outcome, consumer
from consumers.runtime.errors import (
    ConfigurationError,
    InvalidMessageError,
    PermanentError,
    RefusedPointerError,
)
from consumers.runtime.events import SQSEvent, SQSRecord
from consumers.runtime.settings import RuntimeSettings, load_settings
from schemas import UPCASTERS, Envelope, Upcasters
from schemas.lambda_shapes import BatchResponse, LambdaContext

# The runtime's version, and so its wheel's (packaging/runtime/pyproject.toml reads it
# here). Raise it on every change of the runtime or of the envelope contract it ships.
__version__ = "0.2.0"

__all__ = [
    "UPCASTERS",
    "BatchResponse",
    "ConfigurationError",
    "Consumer",
    "ConsumerHandler",
    "Envelope",
    "Handle",
    "InvalidMessageError",
    "LambdaContext",
    "Outcome",
    "PermanentError",
    "RefusedPointerError",
    "RuntimeSettings",
    "SQSEvent",
    "SQSRecord",
    "Upcasters",
    "consumer",
    "load_settings",
]
