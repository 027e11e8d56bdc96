"""``fanout tail``: print envelopes as they flow through the hub's topic.

An ephemeral SQS queue is subscribed to the topic (raw delivery, an optional
filter policy) and removed on exit, so tailing never takes messages from a
consumer. Works against the local hub (found through its state file) or any
endpoint or account (``--endpoint-url``, ``--topic-arn`` or ``--stack-name``).

The queue and the subscription are removed on every way out: the end of
``--count``/``--duration``, an error, Ctrl-C, and SIGTERM (turned into ``SystemExit``
so that the ``finally`` blocks run; Python's default for SIGTERM ends the process
without them).
https://docs.python.org/3/library/signal.html#signal.signal
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self, TextIO

import boto3
from botocore.exceptions import ClientError

from fanout.connection import ENVIRONMENT_LOCK, Connection
from fanout.filter_syntax import FilterSyntaxError, parse_filter_argument, valid_keys
from fanout.options import (
    UsageError,
    connection_options,
    non_negative_float,
    non_negative_int,
    where,
)


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
        self._session, self._endpoint_url, self._region = session, endpoint_url, region
        self._sns = session.client("sns", endpoint_url=endpoint_url, region_name=region)
        self._sqs = session.client("sqs", endpoint_url=endpoint_url, region_name=region)
        self.queue_url: str | None = None
        self._queue_arn: str | None = None
        self._subscription: str | None = None

    def open(self) -> Self:
        """Create the queue, allow the topic to send to it, subscribe."""
        name = f"fanout-tail-{uuid.uuid4().hex[:12]}"
        self.queue_url = self._sqs.create_queue(
            QueueName=name, Attributes={"MessageRetentionPeriod": "300"}
        )["QueueUrl"]
        queue_arn = self._queue_arn = self._sqs.get_queue_attributes(
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
        """Unsubscribe and delete the queue (idempotent).

        With clients of its own: Ctrl-C or SIGTERM can land inside a call of the tail's
        clients, and a connection pool interrupted halfway (its lock taken, a connection
        half read) must not be what the clean-up waits on.
        """
        self._sns = self._session.client(
            "sns", endpoint_url=self._endpoint_url, region_name=self._region
        )
        self._sqs = self._session.client(
            "sqs", endpoint_url=self._endpoint_url, region_name=self._region
        )
        if self._subscription:
            self._sns.unsubscribe(SubscriptionArn=self._subscription)
            self._subscription = None
        elif self._queue_arn:
            # Subscribe did not return: interrupted in flight (Ctrl-C, SIGTERM), or refused
            # after the endpoint made the subscription (moto creates it, then rejects the
            # filter policy). The queue's name is this tail's alone, so any subscription
            # to it is this tail's.
            self._unsubscribe_queue(self._queue_arn)
        if self.queue_url:
            self._sqs.delete_queue(QueueUrl=self.queue_url)
            self.queue_url = None
            self._queue_arn = None

    def _unsubscribe_queue(self, queue_arn: str) -> None:
        pages = self._sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=self.topic_arn
        )
        try:
            subscriptions = [s for page in pages for s in page["Subscriptions"]]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFound":
                return  # no topic, no subscription to it
            raise
        for subscription in subscriptions:
            arn = subscription.get("SubscriptionArn", "")
            if subscription.get("Endpoint") == queue_arn and arn.startswith("arn:"):
                self._sns.unsubscribe(SubscriptionArn=arn)

    def __enter__(self) -> Self:
        try:
            return self.open()
        except BaseException:
            # A refused subscription (a filter policy SNS does not accept), Ctrl-C, SIGTERM:
            # whatever open() created so far goes too.
            self.close()
            raise

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


class _Deprecated(argparse.Action):
    """``--stack``: the old spelling of ``--stack-name``; still accepted, with a note."""

    def __call__(self, _: argparse.ArgumentParser, namespace: Any, values: Any, *__: Any) -> None:
        print("note: `fanout tail --stack` is now --stack-name", file=sys.stderr)
        setattr(namespace, self.dest, values)


def register(subcommands: Any) -> None:
    """Add ``tail``."""
    tail = subcommands.add_parser(
        "tail",
        help="print envelopes flowing through the topic",
        parents=[connection_options()],
        description="Subscribe a temporary queue to the hub's topic and print what arrives; "
        "the queue and its subscription are removed on exit (Ctrl-C, SIGTERM, errors).",
    )
    tail.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only envelopes whose message attribute KEY has one of the VALUEs "
        f"(KEY: {valid_keys()}; 'type=prefix:order.' or 'type=order.*' for a prefix; "
        "repeatable, all must match); or, alone, a raw SNS filter policy as JSON ('{...}')",
    )
    tail.add_argument(
        "--topic-arn",
        metavar="ARN",
        help="the hub topic (default: the stack's, or the local hub's)",
    )
    tail.add_argument("--stack", dest="stack_name", action=_Deprecated, help=argparse.SUPPRESS)
    tail.add_argument("--json", action="store_true", help="print each whole envelope")
    tail.add_argument(
        "--count", type=non_negative_int, default=0, help="stop after this many (0: no limit)"
    )
    tail.add_argument(
        "--duration",
        type=non_negative_float,
        default=0,
        metavar="SECONDS",
        help="stop after this many seconds (0: at Ctrl-C)",
    )
    tail.set_defaults(run=run_tail)


def _filter_policy(filters: list[str]) -> dict[str, Any] | None:
    """The SNS filter policy of the --filter arguments (fanout.filter_syntax); None for none."""
    try:
        return parse_filter_argument(filters) or None
    except FilterSyntaxError as exc:
        raise UsageError(str(exc)) from None


def _topic(
    args: argparse.Namespace, connection: Connection, local: Mapping[str, Any] | None
) -> str:
    """The topic: --topic-arn, else the local hub's (no --stack-name), else the stack's output."""
    from fanout.ops.resolve import StackNotFoundError, resolve  # noqa: PLC0415 - only when needed

    if args.topic_arn:
        return str(args.topic_arn)
    if local is not None and args.stack_name is None and local.get("topic_arn"):
        return str(local["topic_arn"])
    hub = resolve(connection, args.stack_name or "fanout-hub")
    if not hub.found:
        raise StackNotFoundError.of(connection, hub.stack_name)
    return hub.need("topic_arn", "--topic-arn")


@contextmanager
def _stop_signals() -> Iterator[None]:
    """While tailing, SIGTERM raises ``SystemExit(143)`` (128 + 15) and SIGINT
    ``KeyboardInterrupt``, so clean-up runs.

    SIGINT gets Python's own handler back: a shell starts a script's background job with
    SIGINT ignored, and such a tail would outlive `kill -INT` with its queue on the topic.
    https://www.gnu.org/software/bash/manual/html_node/Signals.html
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler; its caller owns the signals
        return

    def stop(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    previous_term = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def run_tail(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Tail until Ctrl-C, SIGTERM, --count or --duration; the queue is removed in every case."""
    from fanout.ops.resolve import ResolveError  # noqa: PLC0415 - only for its error

    policy = _filter_policy(args.filter)
    place = where(args, also_explicit=bool(args.topic_arn))
    region = place.region or "us-east-1"
    session = None
    if place.local is not None and place.profile is None:
        # The running `fanout local up`: signed with the hub's own local credentials, so
        # no AWS credentials are needed and none meant for a real account are sent to it.
        from fanout.local.server import local_session  # noqa: PLC0415 - only for a local hub

        session = local_session(region)
    connection = Connection(
        endpoint_url=place.endpoint_url, region=region, profile=place.profile, session=session
    )
    try:
        topic_arn = _topic(args, connection, place.local)
    except ResolveError as exc:
        raise UsageError(str(exc)) from None
    until = time.monotonic() + args.duration if args.duration else None
    printed = 0
    with _stop_signals():
        try:
            tail = Tail(
                topic_arn,
                endpoint_url=place.endpoint_url,
                region=region,
                filter_policy=policy,
                session=connection.session,
            )
            with tail:
                print(f"tailing {topic_arn} (Ctrl-C stops)", file=sys.stderr)
                for body in tail.envelopes(until):
                    print(body if args.json else summary(body), file=out, flush=True)
                    printed += 1
                    if args.count and printed >= args.count:
                        break
                if not printed and until is not None:
                    # --duration ran out with nothing to show: say so, or an empty
                    # screen reads as a hang or a broken hub.
                    matching = " matching --filter" if policy else ""
                    print(f"no envelope{matching} in {args.duration:g} s", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidParameter" and policy:
                # SNS checks a filter policy at Subscribe.
                # https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html
                raise UsageError(f"SNS refused the --filter policy: {exc}") from None
            if exc.response.get("Error", {}).get("Code") == "NotFound":
                raise UsageError(f"no topic {topic_arn}: {exc}") from None
            raise
    return 0
