"""Generate ``events/``: ready Lambda events for ``sam local invoke`` and tests.

``python -m fanout.events`` rewrites the folder; ``--check`` exits 1 if it is stale.
The events come from the project's own code: stream records are built here in
Lambda's format, and every envelope inside an SQS event is what
``router.normalise.to_outbound`` makes of one of those records, so the samples
never drift from the published envelope.

- ``events/router/*.json``: DynamoDB stream batches (insert, modify, remove, TTL
  removal, a batch with a poison record, an item of about 300 KB).
- ``events/<consumer>/sqs-raw.json``: an SQS batch as raw SNS delivery hands it
  to the consumer (the hub's setting); ``sqs-sns-wrapped.json``: the same
  envelopes inside SNS notification JSON (a subscription without raw delivery).
  Each consumer gets only the envelopes its filter policy in ``template.yaml`` admits.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from boto3.dynamodb.types import TypeSerializer

from router.normalise import EntityRules, Outbound, to_outbound

ROOT: Final = Path(__file__).resolve().parent.parent
EVENTS: Final = ROOT / "events"

REGION: Final = "us-east-1"
ACCOUNT: Final = "123456789012"
TABLE: Final = "fanout-demo"
STREAM_ARN: Final = (
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/stream/2026-01-01T00:00:00.000"
)
TOPIC_ARN: Final = f"arn:aws:sns:{REGION}:{ACCOUNT}:fanout-hub-Topic-EXAMPLE"
CREATED: Final = 1_767_225_600  # 2026-01-01T00:00:00Z
OVERSIZE_BYTES: Final = 300_000  # over SNS's 256 KiB, under DynamoDB's 400 KB item limit

# Which operations each in-repo consumer's filter policy admits (template.yaml).
CONSUMER_OPERATIONS: Final[Mapping[str, frozenset[str]]] = {
    "audit_log": frozenset({"created", "updated", "deleted", "expired"}),
    "projection": frozenset({"created", "updated", "deleted"}),
    "webhook": frozenset({"created", "deleted"}),
}

_NAMESPACE: Final = uuid.UUID("0b6c1e8e-2f7a-5c55-9a4e-6f1d2f3c4b5a")
_serializer = TypeSerializer()


def _ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB JSON as Lambda delivers it (binary as base64)."""

    def b64(value: object) -> str:
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(bytes(value)).decode()
        raise TypeError(type(value).__name__)

    serialized = {name: _serializer.serialize(value) for name, value in item.items()}
    loaded: dict[str, Any] = json.loads(json.dumps(serialized, default=b64))
    return loaded


def stream_record(
    number: int,
    op: str,
    keys: Mapping[str, Any],
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    *,
    ttl: bool = False,
) -> dict[str, Any]:
    """One Lambda-format DynamoDB stream record (NEW_AND_OLD_IMAGES), deterministic in ``number``."""
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": CREATED + number,
        "Keys": _ddb(keys),
        "SequenceNumber": str(4_421_584_500_000_000_017_450_439_000 + number),
        "SizeBytes": 0,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = _ddb(new)
    if old is not None:
        dynamodb["OldImage"] = _ddb(old)
    dynamodb["SizeBytes"] = len(json.dumps(dynamodb))
    record: dict[str, Any] = {
        "eventID": hashlib.md5(f"record-{number}".encode(), usedforsecurity=False).hexdigest(),
        "eventName": op,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN,
    }
    if ttl:
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


_ORDER: Final = {"pk": "ORDER#42", "sk": "META"}
_PLACED: Final = {**_ORDER, "status": "PLACED", "total": 1999, "currency": "EUR", "lines": 2}
_PAID: Final = {**_PLACED, "status": "PAID", "paid_at": "2026-01-01T00:00:05Z"}
_CART: Final = {"pk": "CART#7", "sk": "META", "items": 3, "expires_at": CREATED - 60}


def router_events() -> dict[str, dict[str, Any]]:
    """Stream batches for the router, by file name."""
    insert = stream_record(1, "INSERT", _ORDER, new=_PLACED)
    modify = stream_record(2, "MODIFY", _ORDER, new=_PAID, old=_PLACED)
    remove = stream_record(3, "REMOVE", _ORDER, old=_PAID)
    ttl = stream_record(4, "REMOVE", {"pk": "CART#7", "sk": "META"}, old=_CART, ttl=True)
    poison = stream_record(5, "INSERT", {"pk": "ORDER#43", "sk": "META"}, new={"pk": "ORDER#43"})
    # An attribute type DynamoDB does not have: the record can never become an envelope.
    poison["dynamodb"]["NewImage"]["status"] = {"Z": "not-a-dynamodb-type"}
    after_poison = stream_record(6, "INSERT", {"pk": "ORDER#44", "sk": "META"}, new={
        "pk": "ORDER#44", "sk": "META", "status": "PLACED", "total": 500,
    })  # fmt: skip
    document = {"pk": "DOC#1", "sk": "META", "body": "x" * OVERSIZE_BYTES}
    oversize = stream_record(7, "INSERT", {"pk": "DOC#1", "sk": "META"}, new=document)
    return {
        "insert.json": {"Records": [insert]},
        "modify.json": {"Records": [modify]},
        "remove.json": {"Records": [remove]},
        "ttl-remove.json": {"Records": [ttl]},
        "poison.json": {"Records": [poison, after_poison]},
        "oversize.json": {"Records": [oversize]},
    }


def envelopes() -> list[Outbound]:
    """The envelopes the router publishes for the well-formed, inline-sized sample records."""
    batches = router_events()
    records = [
        batches[name]["Records"][0]
        for name in ("insert.json", "modify.json", "remove.json", "ttl-remove.json")
    ]
    return [to_outbound(record, EntityRules()) for record in records]


def _message_id(consumer: str, outbound: Outbound, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{consumer}/{kind}/{outbound.envelope_id}"))


def _queue_arn(consumer: str) -> str:
    name = consumer.replace("_", " ").title().replace(" ", "")
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:fanout-hub-{name}Consumer-Queue-EXAMPLE"


def _sqs_record(consumer: str, outbound: Outbound, kind: str, index: int) -> dict[str, Any]:
    message_id = _message_id(consumer, outbound, kind)
    sent = str((CREATED + index) * 1000)
    if kind == "raw":
        # Raw delivery: the body is the envelope and SNS attributes become SQS attributes.
        body = outbound.body
        attributes = {
            name: {
                "stringValue": attribute["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attribute["DataType"],
            }
            for name, attribute in outbound.attributes.items()
        }
    else:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
        body = json.dumps(
            {
                "Type": "Notification",
                "MessageId": str(uuid.uuid5(_NAMESPACE, f"sns/{outbound.envelope_id}")),
                "TopicArn": TOPIC_ARN,
                "Message": outbound.body,
                "Timestamp": "2026-01-01T00:00:00.000Z",
                "SignatureVersion": "2",
                "Signature": "EXAMPLE",
                "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
                "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:EXAMPLE",
                "MessageAttributes": {
                    name: {"Type": attribute["DataType"], "Value": attribute["StringValue"]}
                    for name, attribute in outbound.attributes.items()
                },
            },
            ensure_ascii=False,
        )
        attributes = {}
    return {
        "messageId": message_id,
        "receiptHandle": base64.b64encode(f"{consumer}:{message_id}".encode()).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": sent,
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "ApproximateFirstReceiveTimestamp": sent,
        },
        "messageAttributes": attributes,
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": _queue_arn(consumer),
        "awsRegion": REGION,
    }


def consumer_events(consumer: str) -> dict[str, dict[str, Any]]:
    """SQS batches for one consumer: raw delivery and SNS-wrapped, by file name."""
    admitted = [
        o
        for o in envelopes()
        if o.attributes["operation"]["StringValue"] in CONSUMER_OPERATIONS[consumer]
    ]
    return {
        f"sqs-{kind_name}.json": {
            "Records": [_sqs_record(consumer, o, kind, i) for i, o in enumerate(admitted)]
        }
        for kind, kind_name in (("raw", "raw"), ("wrapped", "sns-wrapped"))
    }


def render() -> dict[Path, str]:
    """Every event file's path (relative to ``events/``) and exact text."""
    files: dict[Path, dict[str, Any]] = {
        Path("router") / name: event for name, event in router_events().items()
    }
    for consumer in CONSUMER_OPERATIONS:
        files.update({Path(consumer) / n: e for n, e in consumer_events(consumer).items()})
    return {
        path: json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        for path, event in files.items()
    }


def stale(folder: Path = EVENTS) -> list[Path]:
    """Files in ``folder`` that differ from a fresh generation, are missing, or are extra."""
    expected = render()
    present = {p.relative_to(folder) for p in folder.rglob("*.json")} if folder.exists() else set()
    differing = [
        path
        for path, text in expected.items()
        if not (folder / path).is_file() or (folder / path).read_text(encoding="utf-8") != text
    ]
    return sorted(differing + sorted(present - set(expected)))


def write(folder: Path = EVENTS) -> list[Path]:
    """Regenerate ``folder``; returns the files written. Extra ``*.json`` files are removed."""
    expected = render()
    if folder.exists():
        for extra in {p.relative_to(folder) for p in folder.rglob("*.json")} - set(expected):
            (folder / extra).unlink()
    for path, text in expected.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanout.events", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if events/ is out of date")
    args = parser.parse_args(argv)
    action: Callable[[], list[Path]] = stale if args.check else write
    paths = action()
    if args.check and paths:
        print(
            "events/ is out of date (run `python -m fanout.events`):", *map(str, paths), sep="\n  "
        )
        return 1
    if not args.check:
        print(f"wrote {len(paths)} events under {EVENTS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
