"""The router: a batch of stream records in, every record published or kept, a checkpoint out."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from hubcommon.lambda_shapes import BatchResponse
from router.claimcheck import ClaimCheckWriter
from router.contracts import ContractCheck, Contracts, describe
from router.deadletter import DeadLetterError, DeadLetterWriter, Reason
from router.errors import PoisonRecordError
from router.normalise import EntityRules, Outbound, sequence_number_of, to_outbound
from router.observability import MetricsSink, contract_metric_lines, stdout_sink
from router.publisher import SnsPublisher

if TYPE_CHECKING:
    from router.deadline import Deadline
    from router.settings import Settings

log = structlog.get_logger("router")


class IncompleteBatchError(RuntimeError):
    """Some record could not be handled and has no sequence number to checkpoint at.

    Raised so that Lambda retries the whole batch: nothing is lost, at the cost of
    re-publishing records that already went out (consumers de-duplicate by id).
    """


@dataclass
class BatchReport:
    """Per-batch accounting: every record lands in exactly one bucket."""

    records: int = 0
    published: int = 0
    offloaded: int = 0
    poison: int = 0
    rejected: int = 0
    contract_rejected: Counter[str] = field(default_factory=Counter)
    """By entity: items dead-lettered because they break their contract (``enforce``)."""
    failed: dict[int, str] = field(default_factory=dict)
    calls: int = 0
    contract_violations: Counter[str] = field(default_factory=Counter)
    """By entity: items that break their contract, published (``observe``) or not."""


class Router:
    """Turns stream batches into published envelopes; knows nothing about Lambda itself."""

    def __init__(
        self,
        settings: Settings,
        publisher: SnsPublisher,
        claim_check: ClaimCheckWriter,
        dead_letters: DeadLetterWriter,
        contracts: Contracts | None = None,
        metrics: MetricsSink = stdout_sink,
    ) -> None:
        self._settings = settings
        self._contracts = contracts or Contracts()
        self._rules = EntityRules(
            settings.entity_attribute, settings.partition_key, self._contracts.dataschemas
        )
        self._publisher = publisher
        self._claim_check = claim_check
        self._dead_letters = dead_letters
        self._metrics = metrics

    def route(
        self,
        event: Mapping[str, Any],
        deadline: Deadline,
        origin: Mapping[str, str] | None = None,
    ) -> BatchResponse:
        """Route one batch; report the earliest record not handled so Lambda resumes there.

        Raises ``TypeError`` for an event that is not a stream batch and
        ``IncompleteBatchError`` when a failed record cannot be checkpointed.
        """
        started = time.perf_counter()
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise TypeError("not a DynamoDB stream batch: the event has no 'Records' list")
        origin = origin or {}
        report = BatchReport(records=len(records))

        # Each message's place in the batch, by the message object itself: records
        # may share an eventID (and so an envelope id), positions never do.
        positions: dict[int, int] = {}
        ready: list[Outbound] = []
        for index, record in enumerate(records):
            message = self._prepare(index, record, origin, report)
            if message is not None:
                positions[id(message)] = index
                ready.append(message)

        outcome = self._publisher.publish_all(ready, deadline)
        report.calls = outcome.calls
        report.published = len(outcome.published)
        # One line per record only at debug: skip the loop (thousands of calls) otherwise.
        for message in outcome.published if log.is_enabled_for(logging.DEBUG) else ():
            log.debug(
                "record_published",
                event_id=message.envelope_id,
                sequence=message.sequence_number,
                table=message.table,
                type=message.type,
                outcome="offloaded" if message.offloaded else "published",
            )
        for message, reason in outcome.failed:
            report.failed[positions[id(message)]] = reason
            log.warning(
                "record_unpublished",
                event_id=message.envelope_id,
                sequence=message.sequence_number,
                table=message.table,
                outcome="retry",
                reason=reason[:500],
            )
        for message, reason in outcome.rejected:
            report.rejected += 1
            index = positions[id(message)]
            rejection: DeadLetterError = {"kind": "SnsRejected", "message": reason}
            self._dead_letter(index, records[index], "rejected", rejection, origin, report)

        response = self._checkpoint(records, report)
        log.info(
            "batch_routed",
            table=ready[0].table if ready else None,
            records=report.records,
            published=report.published,
            offloaded=report.offloaded,
            poison=report.poison,
            rejected=report.rejected,
            contract_violations=report.contract_violations.total(),
            contract_rejected=report.contract_rejected.total(),
            failed=len(report.failed),
            sns_calls=report.calls,
            resume_at=response["batchItemFailures"][0]["itemIdentifier"]
            if response["batchItemFailures"]
            else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if report.contract_violations:
            modes = {
                entity: self._settings.contract_modes.of(entity)
                for entity in report.contract_violations
            }
            for line in contract_metric_lines(
                report.contract_violations,
                report.contract_rejected,
                modes,
                # The handler's origin names the function (context.function_name).
                function_name=origin.get("function") or "unknown",
            ):
                self._metrics(line)
        return response

    def _prepare(
        self, index: int, record: Any, origin: Mapping[str, str], report: BatchReport
    ) -> Outbound | None:
        """The record as a message to publish; None when it is dead-lettered or failed."""
        limit = self._settings.max_message_bytes
        try:
            message = to_outbound(record, self._rules)
            if self._contracts:
                check = self._contracts.get(message.attributes["entity"]["StringValue"])
                held = None if check is None else self._held_back(check, message, report)
                if held is not None:
                    self._dead_letter(index, record, "contract", held, origin, report)
                    return None
            if message.size > limit:
                message = self._claim_check.offload(message, limit)
                report.offloaded += 1
        except PoisonRecordError as exc:
            report.poison += 1
            error: DeadLetterError = {"kind": type(exc).__name__, "message": str(exc)}
            self._dead_letter(index, record, "poison", error, origin, report)
            return None
        except (ClientError, BotoCoreError) as exc:
            report.failed[index] = f"claim check failed: {exc}"
            return None
        return message

    @staticmethod
    def _held_back(
        check: ContractCheck, message: Outbound, report: BatchReport
    ) -> DeadLetterError | None:
        """Check the item against its contract; the dead letter's error when ``enforce`` keeps it back.

        A violation is counted and logged by field path and JSON Schema keyword, never
        by value (the item may hold personal data).
        """
        violations = check.violations(message.body)
        if not violations:
            return None
        report.contract_violations[check.entity] += 1
        log.warning(
            "contract_violation",
            event_id=message.envelope_id,
            sequence=message.sequence_number,
            table=message.table,
            entity=check.entity,
            contract_version=check.version,
            mode=check.mode,
            violations=[f"{v['path']}: {v['kind']}" for v in violations],
            outcome="published" if check.mode == "observe" else "dead_lettered",
        )
        if check.mode == "observe":
            return None
        report.contract_rejected[check.entity] += 1
        return {
            "kind": "ContractViolation",
            "message": f"{check.dataschema}: {describe(violations)}",
            "violations": violations,
        }

    def _dead_letter(
        self,
        index: int,
        record: Any,
        reason: Reason,
        error: DeadLetterError,
        origin: Mapping[str, str],
        report: BatchReport,
    ) -> None:
        try:
            self._dead_letters.write(record, reason, error, origin)
        except (ClientError, BotoCoreError) as exc:
            report.failed[index] = f"{reason} record could not be dead-lettered: {exc}"
            return
        log.warning(
            "record_dead_lettered",
            outcome="dead_lettered",
            reason=reason,
            error=error["message"][:500],
            sequence=sequence_number_of(record),
        )

    @staticmethod
    def _checkpoint(records: Sequence[Any], report: BatchReport) -> BatchResponse:
        if not report.failed:
            return {"batchItemFailures": []}
        earliest = min(report.failed)
        sequence = sequence_number_of(records[earliest])
        if sequence is None:
            raise IncompleteBatchError(
                f"record {earliest} failed ({report.failed[earliest]}) and has no SequenceNumber"
            )
        log.warning(
            "batch_incomplete",
            resume_at=sequence,
            reason=report.failed[earliest][:500],
            failed=len(report.failed),
        )
        return {"batchItemFailures": [{"itemIdentifier": sequence}]}
