"""The consumer runtime's exception vocabulary: permanent versus retryable.

Anything a consumer raises is *retryable* (the message goes back to its queue
and SQS redelivers it, up to the queue's ``maxReceiveCount``) unless it is a
``PermanentError``: that message can never succeed, so the runtime sends it to
the consumer's DLQ at once, with its error, instead of burning retries.

A bad environment is ``hubcommon.errors.ConfigurationError`` (re-exported as
``consumers.runtime.ConfigurationError``), the same class the router raises.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Raise (or subclass) this when a message can never succeed; it goes straight to the DLQ."""


class InvalidMessageError(PermanentError):
    """The message is not a readable envelope (bad JSON, failed validation, unknown version)."""


class RefusedPointerError(PermanentError):
    """A claim-check pointer names a bucket this consumer does not trust, or an unusable object."""


class InvalidItemError(PermanentError):
    """An item image does not fit a typed consumer's model (``@consumer(model=...)``).

    Another entity, a contract version with no step to the model's, or an image that
    fails the model's validation. ``str(error)`` travels with the dead letter: each
    failing field by its path and pydantic's message. ``loggable`` is what a log line
    says: the same paths with the kind of each error only, because a contract's own
    validator may quote the value in its message.
    """

    def __init__(self, message: str, *, loggable: str | None = None) -> None:
        super().__init__(message)
        self.loggable = message if loggable is None else loggable
