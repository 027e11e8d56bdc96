"""Lambda entry point of the projection consumer (handler ``consumers.projection.app.handler``)."""

from __future__ import annotations

import time
from functools import cache

from consumers.projection.view import Projection, ProjectionSettings
from consumers.runtime import Envelope, Mode, consumer
from consumers.runtime.clients import aws_clients


@cache
def projection() -> Projection:
    """The container's read model, built at cold start."""
    return Projection(aws_clients().dynamodb, ProjectionSettings.from_env())


# One conditional write per message (Projection.apply) is the whole protocol: a
# redelivery or a late change fails its condition, so no idempotency record is needed.
@consumer(mode=Mode.STATE, setup=projection)
def handler(event: Envelope) -> bool:
    """Keep the read model at the newest state of every item; False when it already was."""
    return projection().apply(event, now=time.time())
