"""``fanout status | dlq peek | dlq redrive | replay stream-failures | replay poison | backfill``.

Every command takes the shared connection options (``fanout.options``: ``--stack-name``,
``--profile``, ``--region``, ``--endpoint-url``, each also from ``FANOUT_*``), ``--json``,
and explicit resource overrides for a hub whose stack cannot be read. With no endpoint
or profile a running ``fanout local up`` is used; with none running and nothing named,
the command refuses (exit 2) instead of calling an account. Exit codes: 0 done, 1
something was left undone (listed in the output), 2 bad arguments or a missing
resource, 130 interrupted (safe to run again).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import boto3
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from fanout.connection import Connection
from fanout.ops.output import Output, duration
from fanout.ops.resolve import Hub, Overrides, ResolveError, StackNotFoundError, resolve
from fanout.options import (
    OperationError,
    UsageError,
    connection_options,
    int_between,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    sdk_failure,
    share,
    where,
)

# SQS's longest visibility timeout, 12 hours.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
MAX_VISIBILITY_SECONDS = 43_200


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("resource overrides (for a hub whose stack cannot be read)")
    group.add_argument("--topic-arn", metavar="ARN", help="override the stack's topic")
    group.add_argument("--table", metavar="NAME", help="override the source table")
    group.add_argument("--stream-arn", metavar="ARN", help="override the source stream")
    group.add_argument("--router-dlq-url", metavar="URL", help="override the router DLQ")
    group.add_argument(
        "--failure-destination",
        metavar="ARN",
        help="override the router mapping's OnFailure destination ARN",
    )
    group.add_argument("--payload-bucket", metavar="NAME", help="override the claim-check bucket")


def register(subcommands: Any) -> None:
    """Add ``status``, ``dlq``, ``replay`` and ``backfill``."""
    hub = connection_options(json=True)
    status = subcommands.add_parser(
        "status", help="queues, DLQs, failed batches, alarms", parents=[hub]
    )
    _common(status)
    status.set_defaults(run=run_status)

    dlq = subcommands.add_parser("dlq", help="read and redrive dead-letter queues")
    verbs = dlq.add_subparsers(dest="dlq_command", required=True, metavar="VERB")
    peek = verbs.add_parser(
        "peek", help="decode DLQ messages without consuming them", parents=[hub]
    )
    peek.add_argument("name", help="a consumer's name, 'router', or a queue name/URL/ARN")
    _filters(peek)
    peek.add_argument(
        "--limit", type=positive_int, default=50, help="show at most this many (default: 50)"
    )
    peek.add_argument(
        "--visibility",
        type=int_between(0, MAX_VISIBILITY_SECONDS),
        default=30,
        help="seconds each message is hidden while peeking (0-43200, default: 30)",
    )
    peek.add_argument(
        "--force", action="store_true", help="peek a queue with a redrive policy anyway"
    )
    _common(peek)
    peek.set_defaults(run=run_peek)

    redrive = verbs.add_parser("redrive", help="move DLQ messages back to a queue", parents=[hub])
    redrive.add_argument("name", help="a consumer's name or a DLQ name/URL/ARN")
    redrive.add_argument("--to", help="a consumer's name or queue (default: the source queue)")
    _filters(redrive)
    redrive.add_argument("--limit", type=positive_int, default=None, help="move at most this many")
    redrive.add_argument(
        "--rate",
        type=non_negative_float,
        default=50.0,
        help="messages per second (default: 50; 0: no limit of ours, SQS's own pace)",
    )
    redrive.add_argument(
        "--method",
        choices=["auto", "move-task", "loop"],
        default="auto",
        help="SQS's StartMessageMoveTask, our receive/send/delete loop, or auto: the task "
        "when no filter or limit needs the loop (default: auto)",
    )
    redrive.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would move (each envelope id, else message id); move nothing",
    )
    redrive.add_argument(
        "--wait",
        action="store_true",
        help="with a move task: follow it to the end (Ctrl-C cancels it)",
    )
    _common(redrive)
    redrive.set_defaults(run=run_redrive)

    replay = subcommands.add_parser(
        "replay", help="invoke the deployed router again on what it gave up on"
    )
    kinds = replay.add_subparsers(dest="replay_command", required=True, metavar="KIND")
    failures = kinds.add_parser(
        "stream-failures",
        help="batches the router's event source mapping discarded",
        parents=[hub],
    )
    failures.add_argument(
        "--from",
        dest="source",
        help="s3://BUCKET[/PREFIX] or a queue (default: the mapping's OnFailure destination)",
    )
    failures.add_argument("--dry-run", action="store_true", help="list the batches, invoke nothing")
    failures.add_argument(
        "--keep", action="store_true", help="leave replayed S3 records where they are"
    )
    _common(failures)
    failures.set_defaults(run=run_stream_failures)
    poison = kinds.add_parser(
        "poison", help="records in the router DLQ, after a fix", parents=[hub]
    )
    poison.add_argument("--dry-run", action="store_true", help="list the records, invoke nothing")
    poison.add_argument("--limit", type=positive_int, default=None, help="replay at most this many")
    _common(poison)
    poison.set_defaults(run=run_poison)

    backfill = subcommands.add_parser(
        "backfill",
        help="send every item of the table to ONE consumer as snapshot envelopes",
        parents=[hub],
    )
    backfill.add_argument("consumer", help="the consumer's name (see `fanout status`)")
    backfill.add_argument(
        "--segments", type=positive_int, default=4, help="parallel Scan segments (default: 4)"
    )
    backfill.add_argument(
        "--capacity-share",
        type=share,
        default=0.25,
        help="share of the table's read capacity to use (0-1)",
    )
    backfill.add_argument(
        "--read-units",
        type=positive_float,
        default=None,
        help="read units per second (overrides --capacity-share; on-demand default base 400)",
    )
    backfill.add_argument(
        "--max-backlog",
        type=non_negative_int,
        default=1000,
        help="pause the scan while the consumer's queue holds this many messages (0: never)",
    )
    backfill.add_argument(
        "--checkpoint", type=Path, default=None, metavar="FILE", help="checkpoint file"
    )
    backfill.add_argument("--restart", action="store_true", help="ignore a saved checkpoint")
    backfill.add_argument("--dry-run", action="store_true", help="show the plan and one sample")
    _common(backfill)
    backfill.set_defaults(run=run_backfill)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type", dest="type_pattern", metavar="GLOB", help="envelope type glob, e.g. 'order.*'"
    )
    parser.add_argument(
        "--error", dest="error_text", metavar="TEXT", help="text in the recorded error"
    )


# ---------------------------------------------------------------------------- wiring


def connect(args: argparse.Namespace) -> tuple[Connection, Hub]:
    """The connection and the resolved hub for the common options.

    ``NoHubError`` when nothing names a hub and no local hub runs; ``StackNotFoundError``
    when the stack does not exist and no override names a resource instead.
    """
    place = where(args)
    session = None
    if place.local is not None:
        # The running `fanout local up`: invoking its router runs the handler here, under
        # the router's role (there is no Docker for moto to run it in), and the policies
        # of the operator and the functions are enforced as in the hub's own process.
        from fanout.local.access import (  # noqa: PLC0415 - only for a local hub
            OPERATOR_ACCESS_KEY,
            DeliveryRefusedError,
        )
        from fanout.local.hub import serve_running_hub  # noqa: PLC0415 - only for a local hub

        try:
            serve_running_hub(place.local, output=sys.stderr)
        except DeliveryRefusedError as exc:
            # e.g. a subscription whose queue is gone: the hub's own check refuses to act.
            raise OperationError(f"the local hub refuses to serve: {exc}") from None
        if place.profile is None:
            # The hub knows the operator by its own access key (its identity policy is the
            # template's OperatorPolicy), so no AWS credentials are needed, and any that
            # are configured for real accounts are never sent to it.
            session = boto3.session.Session(
                aws_access_key_id=OPERATOR_ACCESS_KEY,
                aws_secret_access_key="local-hub",  # noqa: S106 - the local hub accepts any secret  # nosec B106
                region_name=place.region,
            )
    connection = Connection(
        endpoint_url=place.endpoint_url, region=place.region, profile=place.profile, session=session
    )
    overrides = Overrides(
        topic_arn=args.topic_arn,
        table_name=args.table,
        stream_arn=args.stream_arn,
        router_dlq_url=args.router_dlq_url,
        failure_destination=args.failure_destination,
        payload_bucket=args.payload_bucket,
    )
    hub = resolve(connection, place.stack_name, overrides)
    if not hub.found and overrides == Overrides():
        raise StackNotFoundError.of(connection, place.stack_name)
    return connection, hub


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (it may be swapped, e.g. by tests)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextmanager
def _quiet_router_logs() -> Iterator[None]:
    """While a replay runs, the router's structlog lines go to stderr at WARNING and up.

    stdout keeps only the command's own output (and --json stays parseable). structlog's
    configuration is process-wide: the previous one is put back when the command ends,
    so a process that runs commands in-process (a test) keeps its own logging.
    """
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=lambda *_: structlog.PrintLogger(file=cast("TextIO", _Stderr())),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**previous)


def _guarded(run: Any) -> Any:
    def wrapper(args: argparse.Namespace, out: Output | None = None) -> int:
        output = out or Output(json_mode=args.json)
        try:
            return int(run(args, output))
        except (ResolveError, UsageError) as exc:
            print(f"fanout: {exc}", file=sys.stderr)
            return 2
        except (ClientError, BotoCoreError) as exc:
            return sdk_failure("fanout", exc)
        except OperationError as exc:
            print(f"fanout: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("fanout: interrupted; running the command again resumes safely", file=sys.stderr)
            return 130

    wrapper.__name__ = run.__name__
    return wrapper


# ---------------------------------------------------------------------------- commands


@_guarded
def run_status(args: argparse.Namespace, out: Output) -> int:
    """``fanout status``."""
    from fanout.ops.status import hub_status  # noqa: PLC0415 - keep `fanout --help` fast

    connection, hub = connect(args)
    status = hub_status(connection, hub)
    out.document(status.as_dict())
    out.table(
        f"queues of {hub.stack_name}",
        ["owner", "role", "visible", "in flight", "delayed", "oldest"],
        [
            {
                "owner": q.owner,
                "role": q.role,
                "visible": q.visible,
                "in flight": q.in_flight,
                "delayed": q.delayed,
                "oldest": duration(q.oldest_age_seconds),
            }
            for q in status.queues
        ],
    )
    if status.failed_batches is not None:
        out.note(
            f"failed stream batches in {status.failure_destination}: {status.failed_batches}"
            + ("  (fanout replay stream-failures)" if status.failed_batches else "")
        )
    out.table(
        "alarms in ALARM",
        ["name", "since", "runbook", "reason"],
        [
            {"name": a.name, "since": a.since, "runbook": a.runbook, "reason": a.reason[:80]}
            for a in status.alarms
        ],
    )
    for note in status.notes:
        out.note(f"note: {note}")
    return 0


@_guarded
def run_peek(args: argparse.Namespace, out: Output) -> int:
    """``fanout dlq peek NAME``."""
    from fanout.ops.dlq.decode import MessageFilter  # noqa: PLC0415
    from fanout.ops.dlq.peek import peek  # noqa: PLC0415
    from fanout.ops.dlq.queues import resolve_dlq  # noqa: PLC0415

    connection, hub = connect(args)
    sqs = connection.client("sqs")
    queue = resolve_dlq(hub, sqs, args.name)
    if queue.kind == "queue" and not args.force:
        redrive = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy"])
        if redrive["Attributes"].get("RedrivePolicy"):
            raise ResolveError(
                f"{queue.url} has a redrive policy: each peek counts towards its "
                "maxReceiveCount. Pass --force to peek it anyway."
            )
    messages = peek(
        sqs,
        queue,
        limit=args.limit,
        message_filter=MessageFilter(args.type_pattern, args.error_text),
        visibility_seconds=args.visibility,
        rules=_rules(hub),
    )
    out.document(
        {"queue": queue.url, "kind": queue.kind, "messages": [m.as_row() for m in messages]}
    )
    out.table(
        f"{len(messages)} message(s) in {queue.name} ({queue.kind} DLQ), left in place",
        ["type", "id", "subject", "receives", "error", "first seen", "dead-lettered"],
        [
            {
                "type": m.type,
                "id": m.envelope_id or m.message_id,
                "subject": (m.subject or "")[:60] or None,
                "receives": m.receive_count,
                "error": f"{m.error_type}: {(m.error or '')[:80]}",
                "first seen": m.first_seen,
                "dead-lettered": m.dead_lettered_at,
            }
            for m in messages
        ],
    )
    return 0


def _rules(hub: Hub) -> Any:
    from router.normalise import EntityRules  # noqa: PLC0415 - the router's own rules

    return EntityRules.of_router(hub.router_environment)


@_guarded
def run_redrive(args: argparse.Namespace, out: Output) -> int:
    """``fanout dlq redrive NAME``."""
    from fanout.ops.dlq.decode import MessageFilter  # noqa: PLC0415
    from fanout.ops.dlq.move_task import MoveTaskInterruptedError, follow_move_task  # noqa: PLC0415
    from fanout.ops.dlq.queues import destination_url, resolve_dlq  # noqa: PLC0415
    from fanout.ops.dlq.redrive import Redrive  # noqa: PLC0415
    from fanout.ops.resolve import queue_arn_of  # noqa: PLC0415

    connection, hub = connect(args)
    sqs = connection.client("sqs")
    source = resolve_dlq(hub, sqs, args.name)
    if source.kind == "router":
        raise ResolveError(
            "router dead letters are stream records, not envelopes: use `fanout replay poison`"
        )
    target = destination_url(hub, sqs, args.to) if args.to else source.source_url
    if not target:
        raise ResolveError(f"no source queue known for {source.url}: pass --to QUEUE")
    with out.progress("redriving", None) as progress:
        redrive = Redrive(
            # Redrive retries every call itself: botocore's retries are off under it.
            connection.single_attempt_client("sqs"),
            source,
            target,
            rate=args.rate,
            message_filter=MessageFilter(args.type_pattern, args.error_text),
            dry_run=args.dry_run,
            limit=args.limit,
            rules=_rules(hub),
            progress=progress,
        )
        report = redrive.run(cast("Literal['auto', 'move-task', 'loop']", args.method))
    result = report.as_dict()
    if report.method == "move-task":
        handle = str(report.task_handle)
        out.note(f"started StartMessageMoveTask {handle}: {source.url} -> {target}")
        if not args.wait:
            out.document(result)
            return 0
        try:
            with out.progress("moving", None) as progress:
                outcome = follow_move_task(
                    sqs, queue_arn_of(sqs, source.url), handle, progress=progress
                )
        except MoveTaskInterruptedError as interrupted:
            print(f"fanout: {interrupted}", file=sys.stderr)
            raise
        result["task"] = outcome.task
        out.document(result)
        if outcome.status == "COMPLETED":
            out.note(f"move task completed: {outcome.moved} message(s) moved")
            return 0
        reason = f": {outcome.failure_reason}" if outcome.failure_reason else ""
        print(
            f"fanout: move task {outcome.status} after {outcome.moved} message(s){reason}; "
            f"what was not moved is still in {source.url}",
            file=sys.stderr,
        )
        return 1
    out.document(result)
    if report.loop_because and not report.dry_run:
        out.note(f"receive/send/delete loop: {report.loop_because}")
    if report.dry_run:
        out.table(
            f"would move {len(report.would_move)} message(s) {source.url} -> {target}",
            ["id"],
            [{"id": identifier} for identifier in report.would_move],
        )
    verb = "would move" if report.dry_run else "moved"
    count = len(report.would_move) if report.dry_run else report.moved
    out.note(
        f"{verb} {count} message(s) {source.url} -> {target}; "
        f"{report.skipped} left in place (filtered or over --limit), {len(report.failed)} failed"
    )
    for failure in report.failed:
        out.note(f"  failed {failure['message_id']}: {failure['reason']}")
    return 1 if report.failed else 0


@_guarded
def run_stream_failures(args: argparse.Namespace, out: Output) -> int:
    """``fanout replay stream-failures``."""
    from fanout.ops.replay.stream_failures import replay_stream_failures  # noqa: PLC0415

    connection, hub = connect(args)
    with _quiet_router_logs(), out.progress("replaying failed batches", None) as progress:
        report = replay_stream_failures(
            connection,
            hub,
            source=args.source,
            dry_run=args.dry_run,
            keep=args.keep,
            progress=progress,
        )
    out.document(report.as_dict())
    out.table(
        f"{len(report.batches)} failed batch(es); {report.records_routed} record(s) routed",
        ["where", "condition", "from", "records", "routed", "status", "detail"],
        [
            {
                "where": b.where,
                "condition": b.condition,
                "from": b.source,
                "records": b.records,
                "routed": b.routed,
                "status": b.status,
                "detail": b.detail,
            }
            for b in report.batches
        ],
    )
    left = [b for b in report.batches if b.status not in ("replayed", "would-replay")]
    return 1 if left else 0


@_guarded
def run_poison(args: argparse.Namespace, out: Output) -> int:
    """``fanout replay poison``."""
    from fanout.ops.replay.poison import replay_poison  # noqa: PLC0415

    connection, hub = connect(args)
    with _quiet_router_logs(), out.progress("replaying router dead letters", None) as progress:
        report = replay_poison(
            connection, hub, dry_run=args.dry_run, limit=args.limit, progress=progress
        )
    out.document(report.as_dict())
    out.table(
        f"router DLQ: {report.count('routed')} routed and deleted, "
        f"{report.count('still-poison')} still poison (left in the DLQ)",
        ["message", "sequence", "status", "error"],
        [
            {
                "message": o.message_id,
                "sequence": o.sequence_number,
                "status": o.status,
                "error": (o.error or "")[:100] or None,
            }
            for o in report.outcomes
        ],
    )
    left = [o for o in report.outcomes if o.status not in ("routed", "would-replay")]
    return 1 if left else 0


@_guarded
def run_backfill(args: argparse.Namespace, out: Output) -> int:
    """``fanout backfill CONSUMER``."""
    from fanout.local.records import to_lambda_image  # noqa: PLC0415
    from fanout.ops.backfill import (  # noqa: PLC0415
        Backfill,
        Checkpoint,
        default_checkpoint,
        describe_target,
        read_units_for,
        snapshot_outbound,
    )
    from fanout.ops.filtering import FilterPolicy  # noqa: PLC0415

    connection, hub = connect(args)
    consumer = hub.consumer(args.consumer)
    table = hub.need("table_name", "--table")
    dynamodb = connection.client("dynamodb")
    # SNS never sees a snapshot, so the consumer's filter policy is applied here.
    policy = FilterPolicy.of_text(consumer.filter_policy, consumer.filter_policy_scope)
    target = describe_target(
        dynamodb,
        table,
        consumer.queue_url,
        hub.router_environment,
        payload_bucket=hub.payload_bucket,
        filter_policy=policy,
    )
    units = args.read_units or read_units_for(dynamodb, table, args.capacity_share, 400.0)
    path = args.checkpoint or default_checkpoint(consumer.name, table)
    checkpoint = Checkpoint.load_or_start(
        path, consumer.name, table, args.segments, restart=args.restart
    )
    if args.dry_run:
        sample = dynamodb.scan(TableName=table, Limit=1).get("Items", [])
        body = (
            snapshot_outbound(
                to_lambda_image(sample[0]),
                target.key_names,
                target.table_arn,
                target.rules,
                checkpoint.run_id,
                checkpoint.scanned_at,
            ).body
            if sample
            else None
        )
        count = dynamodb.describe_table(TableName=table)["Table"].get("ItemCount")
        plan = {
            "consumer": consumer.name,
            "queue_url": consumer.queue_url,
            "table": table,
            "approximate_items": count,
            "segments": len(checkpoint.segments),
            "read_units_per_second": units,
            "filter_policy": policy.describe(),
            "resuming": checkpoint.items > 0,
            "checkpoint": str(path),
            "sample": body,
        }
        out.document({"dry_run": True, **plan})
        for key, value in plan.items():
            out.note(f"{key}: {value}")
        return 0
    total = dynamodb.describe_table(TableName=table)["Table"].get("ItemCount")
    with out.progress(f"backfilling {consumer.name}", total) as progress:
        # Backfill retries every call itself: botocore's retries are off under it.
        run = Backfill(
            connection.single_attempt_client("dynamodb"),
            connection.single_attempt_client("sqs"),
            connection.single_attempt_client("s3"),
            target,
            checkpoint,
            read_units_per_second=units,
            progress=progress,
            max_backlog=args.max_backlog,
        )
        report = run.run()
    out.document(report.as_dict())
    out.note(
        f"sent {report.sent} snapshot(s) of {table} to {consumer.name} ({consumer.queue_url}); "
        f"{report.filtered} held back by its filter policy ({policy.describe()}); "
        f"{report.offloaded} through the claim check; {report.consumed_read_units:g} read units; "
        f"{'complete' if report.complete else 'incomplete: run again to resume'} "
        f"(checkpoint {path})"
    )
    if report.filtered and not report.sent:
        out.note(
            f"{consumer.name}'s filter policy holds back every snapshot: a policy that lists"
            ' operations must list "snapshot" for the consumer to receive a backfill'
        )
    return 0 if report.complete else 1
