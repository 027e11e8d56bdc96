"""The consumer runtime: write ``def handle(event: Envelope) -> None``, get a correct SQS consumer.

    from consumers.runtime import Envelope, Mode, PermanentError, consumer

    @consumer(mode=Mode.SIDE_EFFECT)
    def handler(event: Envelope) -> None:
        ...

or, typed by an entity contract's model (``schemas.entities``):

    @consumer(mode=Mode.STATE, model=UserV1)
    def handler(change: Change[UserV1]) -> bool | None:
        ...

See ``docs/writing-a-consumer.md``.
"""

from consumers.runtime.clients import AwsClients, aws_clients
from consumers.runtime.core import Consumer, ConsumerHandler, Handle, Mode, Outcome, consumer
from consumers.runtime.errors import (
    InvalidItemError,
    InvalidMessageError,
    PermanentError,
    RefusedPointerError,
)
from consumers.runtime.events import SQSEvent, SQSRecord
from consumers.runtime.items import Change, TypedHandle
from consumers.runtime.settings import RuntimeSettings, load_settings
from consumers.runtime.state import apply_if_newer
from hubcommon.errors import ConfigurationError
from hubcommon.lambda_shapes import BatchResponse, LambdaContext
from schemas import UPCASTERS, Envelope, Upcasters

# The runtime's version, and so its wheel's (packaging/runtime/pyproject.toml reads it
# here). Raise it on every change of the runtime or of the envelope contract it ships.
__version__ = "0.4.0"

__all__ = [
    "UPCASTERS",
    "AwsClients",
    "BatchResponse",
    "Change",
    "ConfigurationError",
    "Consumer",
    "ConsumerHandler",
    "Envelope",
    "Handle",
    "InvalidItemError",
    "InvalidMessageError",
    "LambdaContext",
    "Mode",
    "Outcome",
    "PermanentError",
    "RefusedPointerError",
    "RuntimeSettings",
    "SQSEvent",
    "SQSRecord",
    "TypedHandle",
    "Upcasters",
    "apply_if_newer",
    "aws_clients",
    "consumer",
    "load_settings",
]
