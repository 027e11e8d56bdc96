"""Lambda entry point (handler ``other_team.app.handler``): log how old each order event is."""

from __future__ import annotations

from datetime import UTC, datetime

import humanize
import structlog

from consumers.runtime import Envelope, Mode, consumer

log = structlog.get_logger("other_team")


# Logging has no effect to repeat: the runtime need not claim each event (no DynamoDB
# request per message). A consumer that charges, mails or calls out is Mode.SIDE_EFFECT.
@consumer(mode=Mode.NATURALLY_IDEMPOTENT)
def handler(event: Envelope) -> None:
    """Log the order's key, its change and how long ago it happened ("3 minutes")."""
    age = humanize.naturaldelta(datetime.now(UTC) - event.time)
    log.info("order_seen", subject=event.subject, type=event.type, age=age)
