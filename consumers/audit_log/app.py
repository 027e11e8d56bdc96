"""Lambda entry point of the audit log consumer (handler ``consumers.audit_log.app.handler``)."""

from __future__ import annotations

from functools import cache

from consumers.audit_log.archive import AuditArchive, AuditSettings
from consumers.runtime import Envelope, Mode, consumer
from consumers.runtime.clients import aws_clients


@cache
def archive() -> AuditArchive:
    """The container's archive, built at cold start."""
    return AuditArchive(aws_clients().s3, AuditSettings.from_env())


# The archive's conditional write is idempotent by itself, so the runtime's
# idempotency records would only add DynamoDB writes per event.
@consumer(mode=Mode.NATURALLY_IDEMPOTENT, setup=archive)
def handler(event: Envelope) -> bool:
    """Archive every event; False when it was already archived (a redelivery)."""
    return archive().write(event)
