"""Lambda entry point of the webhook consumer (handler ``consumers.webhook.app.handler``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from consumers.runtime import Envelope, Mode, RuntimeSettings, consumer, load_settings
from consumers.runtime.clients import aws_clients
from consumers.runtime.idempotency import IdempotencyStore
from consumers.webhook.forwarder import Forwarder, IdempotencyLedger, WebhookEnvironment
from consumers.webhook.secret import signing_key


def build_forwarder(
    environ: Mapping[str, str] | None = None, *, require_https: bool = True
) -> Forwarder:
    """A forwarder with a per-endpoint delivery ledger in the idempotency table.

    Reads the signing key from Secrets Manager here, once: per message nothing is read.
    ``require_https=False`` exists for tests against a local plain-HTTP receiver only
    (which also needs ``WEBHOOK_ALLOWED_NETWORKS`` to hold loopback).
    """
    environment = WebhookEnvironment.from_env(environ, require_https=require_https)
    runtime = load_settings(RuntimeSettings, environ)
    table = runtime.require_table("the webhook records each endpoint's deliveries")
    clients = aws_clients()
    settings = environment.with_secret(signing_key(clients.secretsmanager, environment.secret_arn))
    dynamodb = clients.dynamodb

    def store(endpoint: str) -> IdempotencyStore:
        name = f"{runtime.consumer_name}@{IdempotencyLedger.endpoint_id(endpoint)}"
        return IdempotencyStore(table, name, dynamodb)

    # Each endpoint is claimed just before its own POST, so a lease covers one POST,
    # plus slack for name resolution and the ledger's writes: the POST ends by its
    # deadline (consumers.webhook.transport), however slowly the endpoint answers.
    lease = settings.timeout_seconds + 30
    return Forwarder(settings, ledger=IdempotencyLedger(store, lease))


@cache
def forwarder() -> Forwarder:
    """The container's forwarder (signing key read once); refuses a non-https WEBHOOK_URLS entry at cold start."""
    return build_forwarder()


# Each endpoint's delivery is a side effect claimed and completed on its own (the
# forwarder's ledger, two writes per endpoint), so one endpoint's failure never resends
# to the others; a runtime claim of the whole event on top would only add two writes.
@consumer(mode=Mode.SIDE_EFFECT, claim_events=False, setup=forwarder)
def handler(event: Envelope) -> bool:
    """Forward every event to every endpoint; False when every endpoint already had it."""
    return forwarder().deliver(event)
