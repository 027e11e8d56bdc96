"""The consumer runtime: an SQS batch in, your function per envelope, a partial batch response out.

``@consumer(mode=...)`` turns ``def handle(event: Envelope) -> None`` into a
Lambda handler. Per message the runtime unwraps SNS, resolves claim checks,
validates and upcasts the envelope, reads the item as a typed consumer's model
(``consumers.runtime.items``), calls the function under the guarantee its
``Mode`` names, and sorts failures: a ``PermanentError`` (or an unreadable
message) goes to the DLQ at once; anything else returns to the queue through
``batchItemFailures``.

What a message costs in DynamoDB is the mode's choice, and the floor for each
kind of consumer (docs/writing-a-consumer.md, "Choosing a mode"):

- ``Mode.STATE``: the runtime writes nothing; the handler's one write is
  conditional on the stored sequence (``apply_if_newer``).
- ``Mode.SIDE_EFFECT``: a claim and a completion, two writes, no read; or,
  with ``claim_events=False``, the function claims each of its effects itself
  (the webhook: one claim per endpoint).
- ``Mode.NATURALLY_IDEMPOTENT``: the runtime writes nothing; the handler's
  effect is idempotent by itself (one S3 object per envelope id).

``skip_stale=True`` adds runtime 0.2's sequence guard (a consistent read and an
update per message) for a state sink that cannot make its own write conditional
on the sequence (a cache or index outside DynamoDB).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC
from enum import StrEnum
from functools import partial
from typing import Any, Final, TypeVar, overload

import structlog

from consumers.runtime.claimcheck import PayloadResolver, S3PayloadStore
from consumers.runtime.clients import AwsClients, aws_clients
from consumers.runtime.deadletter import DeadLetterQueue, dead_letter_of
from consumers.runtime.errors import InvalidItemError, PermanentError
from consumers.runtime.events import SQSEvent, SQSRecord
from consumers.runtime.idempotency import Claim, ClaimState, IdempotencyStore
from consumers.runtime.items import ItemReader, TypedHandle, TypedHandler
from consumers.runtime.messages import receive_count, unwrap
from consumers.runtime.observability import (
    BatchMetrics,
    MetricsSink,
    NoTracer,
    Tracer,
    XRayTracer,
    error_summary,
    stdout_sink,
)
from consumers.runtime.reading import EnvelopeReader
from consumers.runtime.settings import RuntimeSettings, load_settings
from consumers.runtime.staleness import SequenceGuard
from hubcommon.errors import ConfigurationError
from hubcommon.lambda_shapes import BatchResponse, LambdaContext
from hubcommon.limits import LAMBDA_MAX_TIMEOUT_SECONDS
from hubcommon.logs import configure_logging
from schemas import UPCASTERS, Envelope, Upcasters
from schemas.entities import EntityModel

# A handler returns None, or False to say it applied nothing (``apply_if_newer``
# found newer state; an object already written): counted, not an error.
Handle = Callable[[Envelope], bool | None]
# What the runtime runs per envelope: an envelope's function, or a typed one with its model.
AnyHandle = Handle | TypedHandler[Any]

M = TypeVar("M", bound=EntityModel)

# A lease outlives the invocation a little, so a slow completion write is not overtaken.
LEASE_MARGIN_SECONDS: Final = 5.0
# Do not start a message with less time than this left; return it to the queue instead
# of letting a timeout fail the whole batch (and redeliver the messages that succeeded).
DEFAULT_MIN_REMAINING_MS: Final = 2_000

_log = structlog.get_logger("consumers.runtime")


class Mode(StrEnum):
    """The delivery guarantee a consumer needs, and so what the runtime does per message."""

    STATE = "state"
    """Read models, caches, indexes: the handler's own write is conditional on the
    stored sequence (``apply_if_newer``), which makes it idempotent and
    stale-safe. The runtime writes nothing. A ``False`` return counts as stale."""

    SIDE_EFFECT = "side_effect"
    """Webhooks, payments, e-mail: each envelope id runs at most once. The runtime
    claims it with a leased conditional put and completes it: two writes, no read.
    With ``claim_events=False`` the function claims each effect itself instead."""

    NATURALLY_IDEMPOTENT = "naturally_idempotent"
    """The effect is idempotent by itself (one object per envelope id, an upsert
    keyed by the id). The runtime writes nothing. A ``False`` return counts as
    a duplicate."""


class Outcome(StrEnum):
    """What happened to one message."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate_skipped"
    STALE = "stale_skipped"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"
    IN_PROGRESS = "in_progress_elsewhere"
    DEFERRED = "deferred"

    @property
    def returns_to_queue(self) -> bool:
        """True when the message must be listed in ``batchItemFailures``."""
        return self in (Outcome.RETRY, Outcome.IN_PROGRESS, Outcome.DEFERRED)


class Consumer:
    """Runs one consumer's function over SQS batches with the hub's delivery guarantees."""

    def __init__(
        self,
        handle: AnyHandle,
        *,
        name: str,
        reader: EnvelopeReader,
        dead_letters: DeadLetterQueue,
        mode: Mode = Mode.SIDE_EFFECT,
        idempotency: IdempotencyStore | None = None,
        sequences: SequenceGuard | None = None,
        tracer: Tracer | None = None,
        metrics_sink: MetricsSink = stdout_sink,
        clock: Callable[[], float] = time.time,
        min_remaining_ms: int = DEFAULT_MIN_REMAINING_MS,
    ) -> None:
        self._handle = handle
        self.name = name
        self._reader = reader
        self._dead_letters = dead_letters
        if mode is not Mode.SIDE_EFFECT and idempotency is not None:
            raise ValueError(f"only a side-effect consumer claims events, not a {mode} one")
        if mode is Mode.STATE and sequences is not None:
            raise ValueError("a state consumer's own write is its stale guard")
        self.mode = mode
        self._idempotency = idempotency
        self._sequences = sequences
        self._told_state_returns = False
        self._tracer = tracer or NoTracer()
        self._metrics_sink = metrics_sink
        self._clock = clock
        self._min_remaining_ms = min_remaining_ms

    @classmethod
    def from_settings(
        cls,
        handle: AnyHandle,
        settings: RuntimeSettings,
        *,
        clients: AwsClients,
        mode: Mode = Mode.SIDE_EFFECT,
        claim_events: bool = True,
        skip_stale: bool = False,
        upcasters: Upcasters = UPCASTERS,
        tracer: Tracer | None = None,
    ) -> Consumer:
        """Wire the runtime from validated settings; raises ``ConfigurationError``."""
        idempotency = sequences = None
        if mode is Mode.SIDE_EFFECT and claim_events:
            table = settings.require_table("a side-effect consumer claims each event there")
            idempotency = IdempotencyStore(table, settings.consumer_name, clients.dynamodb)
        if skip_stale:
            table = settings.require_table("the stale-event guard is on for this consumer")
            sequences = SequenceGuard(table, settings.consumer_name, clients.dynamodb)
        store = S3PayloadStore(clients.s3)
        # The hub's claim checks live in its own bucket only; TRUSTED_PAYLOAD_BUCKETS
        # widens what other producers' extended-client pointers may name, never that.
        hub = PayloadResolver(
            store,
            [settings.payload_bucket] if settings.payload_bucket else [],
            kind="hub dataref",
        )
        extended = PayloadResolver(
            store, settings.allowed_payload_buckets, kind="extended-client pointer"
        )
        return cls(
            handle,
            name=settings.consumer_name,
            reader=EnvelopeReader(hub, extended, upcasters),
            dead_letters=DeadLetterQueue(clients.sqs, settings.dlq_url),
            mode=mode,
            idempotency=idempotency,
            sequences=sequences,
            tracer=tracer,
        )

    def process(self, event: SQSEvent, context: LambdaContext | None = None) -> BatchResponse:
        """Consume one SQS batch; the response lists exactly the messages to retry."""
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise TypeError("not an SQS event: the event has no 'Records' list")
        if not all(isinstance(r, Mapping) and "messageId" in r for r in records):
            sources = sorted({str(r.get("eventSource")) for r in records if isinstance(r, Mapping)})
            raise TypeError(
                f"not an SQS event: a record has no 'messageId' (event sources: {sources});"
                " a consumer reads its queue's messages, not the table's stream"
            )
        metrics = BatchMetrics(self.name)
        failures: list[str] = []
        # A FIFO queue must see its messages retried in order: after the first
        # failure, the rest of the batch is returned unprocessed.
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
        fifo = any(r.get("eventSourceARN", "").endswith(".fifo") for r in records)
        for record in records:
            if fifo and failures:
                outcome = Outcome.DEFERRED
                metrics.failed += 1
            else:
                outcome = self._consume_in_time(record, context, metrics)
            if outcome.returns_to_queue:
                failures.append(record["messageId"])
        _log.info(
            "batch_consumed",
            consumer=self.name,
            received=len(records),
            processed=metrics.processed,
            failed=metrics.failed,
            dead_lettered=metrics.dead_lettered,
            duplicates_skipped=metrics.duplicates_skipped,
            stale_skipped=metrics.stale_skipped,
        )
        for line in metrics.emf_lines():
            self._metrics_sink(line)
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    def _consume_in_time(
        self, record: SQSRecord, context: LambdaContext | None, metrics: BatchMetrics
    ) -> Outcome:
        if context is not None and context.get_remaining_time_in_millis() < self._min_remaining_ms:
            outcome = Outcome.DEFERRED
        else:
            # With no context, the lease is Lambda's longest timeout.
            lease = (
                context.get_remaining_time_in_millis() / 1000
                if context is not None
                else LAMBDA_MAX_TIMEOUT_SECONDS
            )
            outcome = self._consume(record, lease + LEASE_MARGIN_SECONDS, metrics)
        if outcome is Outcome.PROCESSED:
            metrics.processed += 1
        elif outcome is Outcome.DUPLICATE:
            metrics.duplicates_skipped += 1
        elif outcome is Outcome.STALE:
            metrics.stale_skipped += 1
        elif outcome is Outcome.DEAD_LETTERED:
            metrics.dead_lettered += 1
        else:
            metrics.failed += 1
        return outcome

    def _consume(self, record: SQSRecord, lease_seconds: float, metrics: BatchMetrics) -> Outcome:
        log = _log.bind(
            consumer=self.name,
            message_id=record["messageId"],
            receive_count=receive_count(record),
        )
        try:
            envelope = self._reader.read(unwrap(record))
        except PermanentError as error:
            # The reader's errors name a field and its problem, never a value.
            return self._dead_letter(record, error, None, log, text_is_safe=True)
        except ConfigurationError:
            raise
        except Exception as error:  # noqa: BLE001 - any other read failure (S3 outage) is retryable
            log.warning("event_failed", outcome=Outcome.RETRY, error=error_summary(error))
            return Outcome.RETRY
        log = log.bind(
            envelope_id=envelope.id,
            type=envelope.type,
            sequence=envelope.sequence,
            table=envelope.table,
        )
        try:
            # A typed consumer's item is read before anything is claimed: an item that
            # does not fit its model never will, and costs no write.
            call = self._bind(envelope)
        except InvalidItemError as error:
            return self._dead_letter(record, error, envelope.id, log, text_is_safe=True)
        annotations = {"consumer": self.name, "envelope_id": envelope.id, "type": envelope.type}
        with self._tracer.subsegment(f"consume {self.name}", annotations):
            outcome = self._run(record, envelope, call, lease_seconds, log)
        if outcome is Outcome.PROCESSED:
            metrics.latencies_ms.append(self._latency_ms(envelope))
        if not outcome.returns_to_queue and outcome is not Outcome.DEAD_LETTERED:
            log.debug("event_consumed", outcome=outcome)
        return outcome

    def _bind(self, envelope: Envelope) -> Callable[[], bool | None]:
        if isinstance(self._handle, TypedHandler):
            return self._handle.bind(envelope)
        return partial(self._handle, envelope)

    def _run(
        self,
        record: SQSRecord,
        envelope: Envelope,
        call: Callable[[], bool | None],
        lease_seconds: float,
        log: Any,
    ) -> Outcome:
        claim: Claim | None = None
        if self._idempotency is not None:
            try:
                claim = self._idempotency.claim(envelope.id, lease_seconds)
            except Exception as error:  # noqa: BLE001 - the store is down: retry the message later
                log.warning("event_failed", outcome=Outcome.RETRY, error=error_summary(error))
                return Outcome.RETRY
            if claim.state is ClaimState.COMPLETED:
                return Outcome.DUPLICATE
            if claim.state is ClaimState.IN_PROGRESS:
                log.info("event_in_progress_elsewhere", outcome=Outcome.IN_PROGRESS)
                return Outcome.IN_PROGRESS
        try:
            outcome = self._apply(envelope, call, log)
        except ConfigurationError:
            self._release(claim, log)
            raise
        except PermanentError as error:
            self._release(claim, log)
            return self._dead_letter(record, error, envelope.id, log)
        except Exception as error:  # noqa: BLE001 - every other failure is retryable by contract
            self._release(claim, log)
            log.warning("event_failed", outcome=Outcome.RETRY, error=error_summary(error))
            return Outcome.RETRY
        self._complete(claim, log)
        return outcome

    def _apply(self, envelope: Envelope, call: Callable[[], bool | None], log: Any) -> Outcome:
        if self._sequences is not None and self._sequences.is_stale(envelope):
            return Outcome.STALE
        applied = call()
        if applied is False:
            return Outcome.STALE if self.mode is Mode.STATE else Outcome.DUPLICATE
        if applied is None and self.mode is Mode.STATE and not self._told_state_returns:
            # The data stays right either way; only the counts would be wrong, silently.
            self._told_state_returns = True
            log.warning(
                "state_handler_returned_none",
                hint="return apply_if_newer(...)'s result: a skipped change then counts as StaleSkipped",
            )
        self._advance(envelope, log)
        return Outcome.PROCESSED

    def _advance(self, envelope: Envelope, log: Any) -> None:
        if self._sequences is None:
            return
        try:
            self._sequences.advance(envelope)
        except Exception as error:  # noqa: BLE001 - the work is done; the mark only speeds up skipping
            log.warning("sequence_mark_failed", error=error_summary(error))

    def _complete(self, claim: Claim | None, log: Any) -> None:
        if claim is None or self._idempotency is None:
            return
        try:
            if not self._idempotency.complete(claim):
                log.warning("idempotency_lease_lost")
        except Exception as error:  # noqa: BLE001 - the work is done; a redelivery waits out the lease
            log.warning("idempotency_completion_failed", error=error_summary(error))

    def _release(self, claim: Claim | None, log: Any) -> None:
        if claim is None or self._idempotency is None:
            return
        try:
            self._idempotency.release(claim)
        except Exception as error:  # noqa: BLE001 - the lease expires on its own
            log.warning("idempotency_release_failed", error=error_summary(error))

    def _dead_letter(
        self,
        record: SQSRecord,
        error: BaseException,
        envelope_id: str | None,
        log: Any,
        *,
        text_is_safe: bool = False,
    ) -> Outcome:
        letter = dead_letter_of(record, consumer=self.name, error=error, envelope_id=envelope_id)
        # An item's error says more in the dead letter than a log line may.
        loggable = error.loggable if isinstance(error, InvalidItemError) else None
        summary = error_summary(error, text_is_safe=text_is_safe, text=loggable)
        try:
            dlq_message_id = self._dead_letters.send(letter)
        except Exception as send_error:  # noqa: BLE001 - the message returns to the queue
            log.error(  # noqa: TRY400 - a traceback's locals would put the body in the line
                "dead_letter_failed",
                outcome=Outcome.RETRY,
                error=summary,
                send_error=error_summary(send_error),
            )
            return Outcome.RETRY
        log.error(
            "event_dead_lettered",
            outcome=Outcome.DEAD_LETTERED,
            error=summary,
            dlq_message_id=dlq_message_id,
            dropped_attributes=list(letter.dropped_attributes) or None,
        )
        return Outcome.DEAD_LETTERED

    def _latency_ms(self, envelope: Envelope) -> float:
        event_ms = envelope.time.astimezone(UTC).timestamp() * 1000
        return max(0.0, self._clock() * 1000 - event_ms)


class ConsumerHandler:
    """The Lambda entry point for one consumer; builds its runtime on the first invocation.

    Settings are read and validated once, when the container handles its first
    batch; a bad setting raises ``ConfigurationError`` naming the variable.
    """

    def __init__(
        self,
        handle: AnyHandle,
        *,
        mode: Mode,
        claim_events: bool = True,
        skip_stale: bool = False,
        setup: Callable[[], object] | None = None,
        upcasters: Upcasters = UPCASTERS,
        deprecated: str | None = None,
    ) -> None:
        self.handle = handle
        self.mode = mode
        self.claim_events = claim_events
        self.skip_stale = skip_stale
        self.deprecated = deprecated
        self._setup = setup
        self._upcasters = upcasters
        self._runtime: Consumer | None = None

    def __call__(self, event: SQSEvent, context: LambdaContext) -> BatchResponse:
        """Lambda calls this with each SQS batch."""
        return self.runtime.process(event, context)

    @property
    def runtime(self) -> Consumer:
        """The wired runtime, built from the environment on first use."""
        if self._runtime is None:
            self._runtime = self.build()
        return self._runtime

    def build(self, environ: dict[str, str] | None = None) -> Consumer:
        """Validate settings, configure logging and tracing, and wire the runtime."""
        settings = load_settings(RuntimeSettings, environ)
        configure_logging(settings.log_level)  # the SDK's loggers held at WARNING too
        if self.deprecated is not None:
            # Python hides DeprecationWarning outside tests; the log line is what an owner sees.
            _log.warning(
                "consumer_option_deprecated",
                consumer=settings.consumer_name,
                detail=self.deprecated,
            )
        if self._setup is not None:
            self._setup()
        return Consumer.from_settings(
            self.handle,
            settings,
            clients=aws_clients(),
            mode=self.mode,
            claim_events=self.claim_events,
            skip_stale=self.skip_stale,
            upcasters=self._upcasters,
            tracer=XRayTracer(),
        )

    def use(self, runtime: Consumer) -> None:
        """Run with this runtime instead of one built from the environment."""
        self._runtime = runtime

    def reset(self) -> None:
        """Forget the runtime, the shared clients and a cached ``setup``; the next call rebuilds all."""
        self._runtime = None
        aws_clients.cache_clear()
        clear = getattr(self._setup, "cache_clear", None)
        if callable(clear):
            clear()


@overload
def consumer(
    *,
    mode: Mode | None = None,
    claim_events: bool = True,
    skip_stale: bool = False,
    setup: Callable[[], object] | None = None,
    upcasters: Upcasters = UPCASTERS,
    idempotent: bool | None = None,
    model: None = None,
) -> Callable[[Handle], ConsumerHandler]: ...


@overload
def consumer(
    *,
    mode: Mode | None = None,
    claim_events: bool = True,
    skip_stale: bool = False,
    setup: Callable[[], object] | None = None,
    upcasters: Upcasters = UPCASTERS,
    idempotent: bool | None = None,
    model: type[M],
) -> Callable[[TypedHandle[M]], ConsumerHandler]: ...


def consumer(
    *,
    mode: Mode | None = None,
    claim_events: bool = True,
    skip_stale: bool = False,
    setup: Callable[[], object] | None = None,
    upcasters: Upcasters = UPCASTERS,
    idempotent: bool | None = None,
    model: type[M] | None = None,
) -> Callable[[Handle], ConsumerHandler] | Callable[[TypedHandle[M]], ConsumerHandler]:
    """Decorator: ``handle(event: Envelope) -> None`` becomes a Lambda SQS handler.

    ``mode`` says what guarantee the function needs and so what each message
    costs (``Mode``): ``SIDE_EFFECT`` (the default, and safe for any function)
    claims each envelope id in IDEMPOTENCY_TABLE so it runs at most once;
    ``STATE`` and ``NATURALLY_IDEMPOTENT`` leave that to the function's own
    write and touch no table. ``claim_events=False`` (``SIDE_EFFECT`` only): the
    function claims each of its effects itself, as the webhook does per endpoint.
    ``skip_stale``: skip a change older than one already applied to the same item
    (a consistent read and an update per message; not in ``STATE``, whose write
    already does it). ``setup`` runs once at cold start, after the runtime's own
    settings are valid: build your own clients and validate your own settings there.
    ``idempotent`` is runtime 0.2's switch, kept for one release: ``True`` is
    ``SIDE_EFFECT``, ``False`` is ``NATURALLY_IDEMPOTENT``.
    ``model``: an entity contract's model (``schemas.entities``); the function then
    takes a ``Change[model]`` whose ``new`` / ``old`` are the item in that model's
    version, converted by the contract's steps; an item that does not fit goes to
    the DLQ at once (``InvalidItemError``).
    """
    deprecated = None
    if idempotent is not None:
        if mode is not None:
            raise TypeError("consumer() takes mode= or the older idempotent=, not both")
        mode = Mode.SIDE_EFFECT if idempotent else Mode.NATURALLY_IDEMPOTENT
        deprecated = (
            f"consumer(idempotent={idempotent}) is deprecated since runtime 0.3.0 and runs as "
            f"mode=Mode.{mode.name}: write that instead"
        )
        warnings.warn(deprecated, DeprecationWarning, stacklevel=2)
    try:
        chosen = Mode(mode) if mode is not None else Mode.SIDE_EFFECT
    except ValueError:
        valid = ", ".join(f"Mode.{m.name} ({m.value!r})" for m in Mode)
        raise ValueError(f"consumer(mode={mode!r}): the modes are {valid}") from None
    if not claim_events and chosen is not Mode.SIDE_EFFECT:
        raise TypeError(
            f"claim_events=False is for Mode.SIDE_EFFECT; a {chosen} consumer claims nothing"
        )
    if skip_stale and chosen is Mode.STATE:
        raise TypeError(
            "skip_stale is for sinks that cannot write conditionally; in Mode.STATE use apply_if_newer"
        )

    def handler_of(handle: AnyHandle) -> ConsumerHandler:
        return ConsumerHandler(
            handle,
            mode=chosen,
            claim_events=claim_events,
            skip_stale=skip_stale,
            setup=setup,
            upcasters=upcasters,
            deprecated=deprecated,
        )

    if model is None:
        return handler_of
    # Built now, at import: a model outside any contract is a mistake in the code.
    items = ItemReader(model)

    def wrap_typed(function: TypedHandle[M]) -> ConsumerHandler:
        return handler_of(TypedHandler(function, items))

    return wrap_typed
