"""Lambda entry point of the projection consumer (handler ``consumers.projection.app.handler``)."""

from __future__ import annotations

import time
from functools import cache

from consumers.projection.view import Projection, ProjectionSettings
from consumers.runtime import Envelope, consumer
from consumers.runtime.clients import aws_clients


@cache
def projection() -> Projection:
    """The container's read model, built at cold start."""
    return Projection(aws_clients().dynamodb, ProjectionSettings.from_env())


# skip_stale: most late changes are skipped before any write; the conditional
# write in Projection.apply keeps the read model right even when two changes race.
@consumer(skip_stale=True, setup=projection)
def handler(event: Envelope) -> None:
    """Keep the read model at the newest state of every item."""
    projection().apply(event, now=time.time())
