"""What the emulator reports as it works: one fact per batch outcome.

The live view and the no-loss accounting of ``fanout local up --demo`` are
built from these facts, and tests assert on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class InvocationOutcome(StrEnum):
    """What an event-source mapping did with (part of) a batch it handed to a function.

    Not the consumer runtime's per-message ``consumers.runtime.core.Outcome``.
    """

    DELIVERED = "delivered"  # handed to the function (every attempt)
    SUCCEEDED = "succeeded"  # done: checkpointed past (stream) or deleted (queue)
    RETRIED = "retried"  # failed and will be delivered again
    BISECTED = "bisected"  # a failed stream batch split in two
    DISCARDED = "discarded"  # sent to the OnFailure destination, shard moves on


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """One outcome for some records of one mapping."""

    outcome: InvocationOutcome
    function: str
    source_arn: str
    identifiers: tuple[str, ...]
    detail: str = ""
    receive_counts: tuple[int, ...] = ()
    bodies: tuple[str, ...] = field(default=(), repr=False)

    @property
    def count(self) -> int:
        """How many records or messages the event is about."""
        return len(self.identifiers)


# Receives every BatchEvent; must be thread-safe and quick.
Observer = Callable[[BatchEvent], None]


class EventLog:
    """An Observer that keeps every event (tests, the demo's ledger)."""

    def __init__(self, *, also: Callable[[BatchEvent], None] | None = None) -> None:
        self._events: list[BatchEvent] = []
        self._lock = threading.Lock()
        self._also = also

    def __call__(self, event: BatchEvent) -> None:
        """Record the event (and pass it on)."""
        with self._lock:
            self._events.append(event)
        if self._also is not None:
            self._also(event)

    @property
    def events(self) -> list[BatchEvent]:
        """A snapshot of everything so far, in order."""
        with self._lock:
            return list(self._events)

    def identifiers(self, outcome: InvocationOutcome, function: str | None = None) -> list[str]:
        """Every identifier reported with ``outcome`` (optionally for one function), in order."""
        return [
            identifier
            for event in self.events
            if event.outcome is outcome and (function is None or event.function == function)
            for identifier in event.identifiers
        ]

    def count(self, outcome: InvocationOutcome, function: str | None = None) -> int:
        """How many records or messages were reported with ``outcome``."""
        return len(self.identifiers(outcome, function))


def ignore(_: BatchEvent) -> None:
    """The default Observer."""
