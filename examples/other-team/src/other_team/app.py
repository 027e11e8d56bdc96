"""Lambda entry point (handler ``other_team.app.handler``): log how old each order event is."""

from __future__ import annotations

from datetime import UTC, datetime

import humanize
import structlog

from consumers.runtime import Envelope, consumer

log = structlog.get_logger("other_team")


@consumer()  # each envelope id runs once (the kit's idempotency table)
def handler(event: Envelope) -> None:
    """Log the order's key, its change and how long ago it happened ("3 minutes")."""
    age = humanize.naturaldelta(datetime.now(UTC) - event.time)
    log.info("order_seen", subject=event.subject, type=event.type, age=age)
