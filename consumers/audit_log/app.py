"""Lambda entry point of the audit log consumer (handler ``consumers.audit_log.app.handler``)."""

from __future__ import annotations

from functools import cache

from consumers.audit_log.archive import AuditArchive, AuditSettings
from consumers.runtime import Envelope, consumer
from consumers.runtime.clients import aws_clients


@cache
def archive() -> AuditArchive:
    """The container's archive, built at cold start."""
    return AuditArchive(aws_clients().s3, AuditSettings.from_env())


# The archive's conditional write is idempotent by itself, so the runtime's
# idempotency records would only add a DynamoDB round trip per event.
@consumer(idempotent=False, setup=archive)
def handler(event: Envelope) -> None:
    """Archive every event."""
    archive().write(event)
