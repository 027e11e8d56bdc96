"""The record Lambda sends to a stream mapping's OnFailure destination.

SQS and SNS destinations get metadata only (which shard, which sequence
numbers, why); an S3 destination also gets the whole invocation event in
``payload`` (an escaped JSON string), under the key
``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``.
https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from fanout.local.invoker import Invocation
from fanout.local.records import sequence_of


class FailureCondition(StrEnum):
    """Why Lambda gave up on a batch (``requestContext.condition``)."""

    RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def _iso_seconds(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _iso_millis(epoch: float) -> str:
    whole, millis = divmod(round(epoch * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


@dataclass(frozen=True, slots=True)
class DiscardedBatch:
    """A batch Lambda stopped retrying, with what it knew about the last attempt."""

    records: Sequence[Mapping[str, Any]]
    condition: FailureCondition
    function_arn: str
    shard_id: str
    stream_arn: str
    invoke_count: int
    last_invocation: Invocation | None

    def invocation_record(self, now: float | None = None) -> dict[str, Any]:
        """The metadata document Lambda sends to an SQS or SNS destination."""
        first, last = self.records[0], self.records[-1]
        invocation = self.last_invocation
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if invocation is not None and invocation.failed:
            response["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": invocation.request_id if invocation else str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": str(self.condition),
                "approximateInvokeCount": self.invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso_millis(time.time() if now is None else now),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence_of(first),
                "endSequenceNumber": sequence_of(last),
                "approximateArrivalOfFirstRecord": _iso_seconds(
                    first["dynamodb"]["ApproximateCreationDateTime"]
                ),
                "approximateArrivalOfLastRecord": _iso_seconds(
                    last["dynamodb"]["ApproximateCreationDateTime"]
                ),
                "batchSize": len(self.records),
                "streamArn": self.stream_arn,
            },
        }

    def s3_invocation_record(self, now: float | None = None) -> dict[str, Any]:
        """The S3 form: the same metadata plus the whole event as an escaped JSON string."""
        return {
            **self.invocation_record(now),
            "payload": json.dumps({"Records": list(self.records)}),
        }


def s3_object_key(mapping_uuid: str, shard_id: str, now: float | None = None) -> str:
    """``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``."""
    moment = time.gmtime(time.time() if now is None else now)
    day = time.strftime("%Y/%m/%d", moment)
    stamp = time.strftime("%Y-%m-%dT%H.%M.%S", moment)
    return f"aws/lambda/{mapping_uuid}/{shard_id}/{day}/{stamp}-{uuid.uuid4()}"


class Clients(Protocol):
    """Where boto3 clients come from (one per service, built on demand)."""

    def client(self, service: str) -> Any: ...


class FailureDestination:
    """Sends discarded-batch records to an SQS queue, SNS topic or S3 bucket by ARN."""

    def __init__(self, arn: str, clients: Clients, mapping_uuid: str) -> None:
        self.arn = arn
        self._clients = clients
        self._mapping_uuid = mapping_uuid
        self._service = arn.split(":")[2]
        if self._service not in {"sqs", "sns", "s3"}:
            raise ValueError(f"unsupported OnFailure destination {arn!r}")

    def send(self, batch: DiscardedBatch) -> str:
        """Deliver the record; returns where it went (queue URL, message id or S3 URI)."""
        if self._service == "s3":
            bucket = self.arn.split(":::", 1)[1]
            key = s3_object_key(self._mapping_uuid, batch.shard_id)
            self._clients.client("s3").put_object(
                Bucket=bucket,
                Key=key,
                Body=json.dumps(batch.s3_invocation_record()).encode(),
                ContentType="application/json",
            )
            return f"s3://{bucket}/{key}"
        body = json.dumps(batch.invocation_record())
        if self._service == "sns":
            sent = self._clients.client("sns").publish(TopicArn=self.arn, Message=body)
            return str(sent["MessageId"])
        sqs = self._clients.client("sqs")
        _, _, _, _, account, name = self.arn.split(":", 5)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)
        return str(url)
