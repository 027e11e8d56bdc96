"""How much of the invocation is left, so retries stop before Lambda's timeout does."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hubcommon.lambda_shapes import LambdaContext

# Time kept back for the work after publishing: DLQ writes, the response.
DEFAULT_RESERVE_SECONDS = 1.0


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time after which no new attempt starts."""

    at: float

    @classmethod
    def of(cls, context: LambdaContext, reserve: float = DEFAULT_RESERVE_SECONDS) -> Deadline:
        """The deadline of a Lambda invocation, minus a reserve for finishing up."""
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return cls(time.monotonic() + max(0.0, remaining - reserve))

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now (tests, tools)."""
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    def allows(self, seconds: float) -> bool:
        """True when waiting ``seconds`` still leaves time for an attempt."""
        return self.remaining() > seconds
