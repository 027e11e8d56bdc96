"""``fanout tail``: print envelopes as they flow through the hub's topic.

An ephemeral SQS queue is subscribed to the topic (raw delivery, an optional
filter policy) and removed on exit, so tailing never takes messages from a
consumer. Works against the local hub (found through its state file) or any
endpoint or account (``--endpoint-url``, ``--topic-arn`` or ``--stack``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Self, TextIO

import boto3

from fanout.connection import ENVIRONMENT_LOCK
from fanout.filter_syntax import FilterSyntaxError, parse_filter_argument, valid_keys


class Tail:
    """An ephemeral queue on the topic; ``envelopes()`` yields bodies until closed."""

    def __init__(
        self,
        topic_arn: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        filter_policy: Mapping[str, Any] | None = None,
        wait_seconds: int = 1,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self._filter = dict(filter_policy) if filter_policy else None
        self._wait = wait_seconds
        session = session or boto3.session.Session(region_name=region)
        with ENVIRONMENT_LOCK:  # not a local function's credentials (fanout.connection)
            session.get_credentials()
        self._sns = session.client("sns", endpoint_url=endpoint_url, region_name=region)
        self._sqs = session.client("sqs", endpoint_url=endpoint_url, region_name=region)
        self.queue_url: str | None = None
        self._subscription: str | None = None

    def open(self) -> Self:
        """Create the queue, allow the topic to send to it, subscribe."""
        name = f"fanout-tail-{uuid.uuid4().hex[:12]}"
        self.queue_url = self._sqs.create_queue(
            QueueName=name, Attributes={"MessageRetentionPeriod": "300"}
        )["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        # https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                }
            ],
        }
        self._sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
        )
        attributes = {"RawMessageDelivery": "true"}
        if self._filter:
            attributes["FilterPolicy"] = json.dumps(self._filter)
        self._subscription = self._sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return self

    def poll(self) -> list[str]:
        """The bodies received in one long poll (deleted from the tail queue)."""
        if self.queue_url is None:
            raise RuntimeError("open() the tail first")
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait
        ).get("Messages", [])
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        return [m["Body"] for m in messages]

    def envelopes(self, until: float | None = None) -> Iterator[str]:
        """Bodies as they arrive, until the monotonic time ``until`` (forever if None)."""
        while until is None or time.monotonic() < until:
            yield from self.poll()

    def close(self) -> None:
        """Unsubscribe and delete the queue (idempotent)."""
        if self._subscription:
            self._sns.unsubscribe(SubscriptionArn=self._subscription)
            self._subscription = None
        if self.queue_url:
            self._sqs.delete_queue(QueueUrl=self.queue_url)
            self.queue_url = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *_: object) -> None:
        self.close()


def summary(body: str) -> str:
    """One line per envelope: time, type, subject, id (or the raw text if not an envelope)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    if not isinstance(envelope, dict) or "type" not in envelope:
        return body
    where = " (claim check)" if envelope.get("dataref") else ""
    return (
        f"{envelope.get('time', '')}  {envelope.get('type', '')}  "
        f"{envelope.get('subject', '')}  {envelope.get('id', '')}{where}"
    )


def _topic_from_stack(stack: str, endpoint_url: str | None, region: str) -> str:
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name=region)
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "TopicArn":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack} has no TopicArn output")


def register(subcommands: Any) -> None:
    """Add ``tail``."""
    tail = subcommands.add_parser("tail", help="print envelopes flowing through the topic")
    tail.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only envelopes whose message attribute KEY has one of the VALUEs "
        f"(KEY: {valid_keys()}; 'type=prefix:order.' or 'type=order.*' for a prefix; "
        "repeatable, all must match); or, alone, a raw SNS filter policy as JSON ('{...}')",
    )
    tail.add_argument("--topic-arn", help="the hub topic (default: the running local hub's)")
    tail.add_argument("--stack", help="read TopicArn from this CloudFormation stack's outputs")
    tail.add_argument("--endpoint-url", help="endpoint (default: the running local hub's, or AWS)")
    tail.add_argument("--region", default=None)
    tail.add_argument("--json", action="store_true", help="print each whole envelope")
    tail.add_argument("--count", type=int, default=0, help="stop after this many (0: no limit)")
    tail.add_argument("--duration", type=float, default=0, help="stop after seconds (0: Ctrl-C)")
    tail.set_defaults(run=run_tail)


def run_tail(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Tail until Ctrl-C, --count or --duration; the queue is removed in every case."""
    from fanout.local.hub import load_state  # noqa: PLC0415 - only to find a running local hub

    try:
        policy = parse_filter_argument(args.filter) or None
    except FilterSyntaxError as exc:
        print(f"fanout tail: {exc}", file=sys.stderr)
        return 2
    state = load_state() or {}
    local = not (args.endpoint_url or args.topic_arn or args.stack)
    endpoint_url = args.endpoint_url or (state.get("endpoint_url") if local else None)
    region = args.region or state.get("region") or "us-east-1"
    topic_arn = args.topic_arn or (
        _topic_from_stack(args.stack, endpoint_url, region)
        if args.stack
        else state.get("topic_arn")
    )
    if not topic_arn:
        print("no topic: start `fanout local up` or pass --topic-arn/--stack", file=sys.stderr)
        return 2
    until = time.monotonic() + args.duration if args.duration else None
    printed = 0
    session = None
    if endpoint_url and endpoint_url == state.get("endpoint_url"):
        # The running `fanout local up`: signed with the hub's own local credentials, so
        # no AWS credentials are needed and none meant for a real account are sent to it.
        from fanout.local.server import local_session  # noqa: PLC0415 - only for a local hub

        session = local_session(region)
    with Tail(
        topic_arn, endpoint_url=endpoint_url, region=region, filter_policy=policy, session=session
    ) as tail:
        print(f"tailing {topic_arn} (Ctrl-C stops)", file=sys.stderr)
        try:
            for body in tail.envelopes(until):
                print(body if args.json else summary(body), file=out, flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    break
        except KeyboardInterrupt:
            pass
    return 0
