"""The template's policies hold on the local hub, for every principal it acts as.

AWS allows a same-account request when the principal's identity policies or the
resource's policy allow it and nothing denies it:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
The topic policy lets only the router role publish, so the operator replays by invoking
the router (``lambda:InvokeFunction``), with only the template's ``OperatorPolicy``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support.builders import a_stream_record
from support.cli import run_fanout
from support.waiting import eventually

from fanout.connection import ENVIRONMENT_LOCK, Connection
from fanout.local import hub as local_hub
from fanout.local.access import OPERATOR_ACCESS_KEY, Identity, Target
from fanout.local.esm import EmulatorSettings
from fanout.local.failure import DiscardedBatch, FailureCondition, s3_object_key
from fanout.local.hub import LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from fanout.ops.replay.router import DeployedRouter
from fanout.ops.resolve import Hub, queue_arn_of, resolve
from fanout.tail import Tail
from router.deadletter import DeadLetterWriter
from router.normalise import EntityRules, to_outbound

pytestmark = pytest.mark.e2e

SEQUENCE_BASE = 3 * 10**29
OPERATOR_PROFILE = "fanout-operator"
DENIED = ("AccessDenied", "AuthorizationError", "not authorized")


def connection_as(hub: LocalHub, access_key: str) -> Connection:
    """Clients signing with ``access_key`` (the local hub ignores the secret)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key="local",  # never checked locally
        region_name=hub.region,
    )
    return Connection(endpoint_url=hub.endpoint_url, region=hub.region, session=session)


class Env:
    """The running hub, the harness's view of it, and the operator's CLI."""

    def __init__(self, hub: LocalHub, tail: Tail, credentials: Path) -> None:
        self.hub = hub
        self.tail = tail
        self.credentials = credentials
        assert hub.access is not None, "the embedded hub checks its principals"
        self.access = hub.access
        self.seen: set[str] = set()
        self.url = str(hub.endpoint_url)
        self.harness = Connection(endpoint_url=self.url, region=hub.region)
        self.resolved: Hub = resolve(self.harness, "fanout-hub")

    def as_operator(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
        """A `fanout` command with the operator's profile: exit code, JSON document, stderr."""
        capsys.readouterr()
        ran = run_fanout(
            [*argv, "--endpoint-url", self.url, "--profile", OPERATOR_PROFILE, "--json"]
        )
        return ran.code, ran.document(), ran.err + capsys.readouterr().err

    @contextmanager
    def operator_without(self, dropped: Callable[[dict[str, Any]], bool]) -> Iterator[None]:
        """The operator's policy minus exactly one statement, restored on the way out."""
        authorizer = self.access.authorizer
        granted = authorizer.identity(OPERATOR_ACCESS_KEY)
        (document,) = granted.policies
        narrowed = {**document, "Statement": [s for s in document["Statement"] if not dropped(s)]}
        assert len(narrowed["Statement"]) == len(document["Statement"]) - 1
        authorizer.register(OPERATOR_ACCESS_KEY, Identity(granted.principal, [narrowed]))
        try:
            yield
        finally:
            authorizer.register(OPERATOR_ACCESS_KEY, granted)

    def wait_published(self, envelope_ids: set[str]) -> None:
        """Until the tail on the topic saw every one of these envelope ids."""

        def published() -> bool:
            self.seen.update(json.loads(body)["id"] for body in self.tail.poll())
            return envelope_ids <= self.seen

        eventually(published)

    def role_connection(self, function_logical_id: str) -> Connection:
        """Clients signing as a function's execution role."""
        function = self.hub.deployment.function(function_logical_id)
        key = self.access.function_credentials[function.name]["AWS_ACCESS_KEY_ID"]
        return connection_as(self.hub, key)

    def failed_batch(self, pk: str, sequence: int) -> tuple[str, dict[str, Any]]:
        """A discarded batch in the router's S3 OnFailure destination, as Lambda writes it."""
        record = a_stream_record(
            keys={"pk": pk, "sk": "META"},
            stream_arn=self.hub.stream_arn,
            sequence=str(SEQUENCE_BASE + sequence),
        )
        batch = DiscardedBatch(
            records=[record],
            condition=FailureCondition.RETRY_ATTEMPTS_EXHAUSTED,
            function_arn=self.hub.deployment.router.function_arn,
            shard_id="shardId-00000001",
            stream_arn=self.hub.stream_arn,
            invoke_count=6,
            last_invocation=None,
        )
        bucket = self.resolved.need("failure_destination", "-").removeprefix("arn:aws:s3:::")
        key = s3_object_key("mapping", "shardId-00000001")
        self.harness.client("s3").put_object(
            Bucket=bucket, Key=key, Body=json.dumps(batch.s3_invocation_record()).encode()
        )
        return f"{bucket}/{key}", record


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # The operator's profile, as `aws configure --profile fanout-operator` would write it.
    credentials = tmp_path_factory.mktemp("aws") / "credentials"
    credentials.write_text(
        f"[{OPERATOR_PROFILE}]\naws_access_key_id = {OPERATOR_ACCESS_KEY}\n"
        "aws_secret_access_key = local\n"
    )
    settings = EmulatorSettings(
        stream=StreamSettings(poll_interval_seconds=0.05),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    env_credentials = credentials
    with pytest.MonkeyPatch.context() as patch:
        with ENVIRONMENT_LOCK:  # functions' environments are patched under this lock
            patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        hub = LocalHub(settings=settings, handler_output=io.StringIO())
        with hub, Tail(hub.topic_arn, endpoint_url=hub.endpoint_url, wait_seconds=0) as tail:
            yield Env(hub, tail, env_credentials)


class TestPrincipals:
    """Each principal gets what its policies give, and no more."""

    def test_the_operator_cannot_publish_to_the_topic(self, env: Env):
        sns = connection_as(env.hub, OPERATOR_ACCESS_KEY).client("sns")

        with pytest.raises(ClientError) as refused:
            sns.publish(TopicArn=env.hub.topic_arn, Message="{}")

        assert refused.value.response["Error"]["Code"] == "AuthorizationError"
        assert "OnlyTheRouterPublishes" in refused.value.response["Error"]["Message"]

    def test_the_router_role_can(self, env: Env):
        sns = env.role_connection("RouterFunction").client("sns")
        record = a_stream_record(keys={"pk": "ORDER#direct", "sk": "META"})
        outbound = to_outbound(record, EntityRules())

        sent = sns.publish(
            TopicArn=env.hub.topic_arn,
            Message=outbound.body,
            MessageAttributes=outbound.attributes,
        )

        assert sent["MessageId"]

    def test_a_consumer_role_cannot_read_another_bucket(self, env: Env):
        s3 = env.role_connection("AuditLogConsumer/ConsumerFunction").client("s3")
        failed_batches = env.resolved.need("failure_destination", "-").removeprefix("arn:aws:s3:::")
        env.harness.client("s3").put_object(Bucket=failed_batches, Key="x", Body=b"{}")

        with pytest.raises(ClientError) as refused:
            s3.get_object(Bucket=failed_batches, Key="x")

        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        # ... while the claim checks it needs are allowed (the object just is not there).
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket=env.resolved.need("payload_bucket", "-"), Key="envelopes/none")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"


class TestOperatorPolicy:
    """Every operations command runs with only the template's OperatorPolicy."""

    def test_it_is_an_output_and_grants_no_sns_action(self, env: Env):
        assert env.resolved.outputs["OperatorPolicyArn"].startswith("arn:aws:iam::")
        (document,) = env.access.authorizer.identity(OPERATOR_ACCESS_KEY).policies
        actions = {
            action
            for statement in document["Statement"]
            for action in (
                [statement["Action"]]
                if isinstance(statement["Action"], str)
                else statement["Action"]
            )
        }
        assert "lambda:InvokeFunction" in actions
        # Reading who is subscribed, never publishing or subscribing.
        assert {a for a in actions if a.startswith("sns:")} == {
            "sns:ListSubscriptionsByTopic",
            "sns:GetSubscriptionAttributes",
        }

    def test_replays_wait_out_the_deployed_routers_timeout(self, env: Env):
        # The router's Timeout, as resolving the hub reads it, sets the invoke client's
        # read timeout (fanout.connection.Connection.invoke_client).
        operator = connection_as(env.hub, OPERATOR_ACCESS_KEY)
        configured = env.harness.client("lambda").get_function_configuration(
            FunctionName=env.resolved.need("router_function", "-")
        )["Timeout"]

        hub = resolve(operator, "fanout-hub")
        router = DeployedRouter.of(operator, hub)

        assert hub.router_timeout == configured
        assert router.lambda_client.meta.config.read_timeout == configured + 30

    def test_every_ops_command_passes(
        self, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ):
        # GIVEN a discarded batch, a router dead letter and a consumer dead letter
        where, replayed = env.failed_batch("ORDER#failed", 1)
        poison = a_stream_record(
            keys={"pk": "ORDER#poison", "sk": "META"},
            stream_arn=env.hub.stream_arn,
            sequence=str(SEQUENCE_BASE + 2),
        )
        DeadLetterWriter(
            env.harness.client("sqs"),
            env.resolved.need("router_dlq_url", "-"),
            env.harness.client("s3"),
            env.resolved.need("payload_bucket", "-"),
        ).write(poison, "poison", {"kind": "PoisonRecordError", "message": "old bug"}, {})
        audit = env.resolved.consumer("audit-log")
        outbound = to_outbound(poison, EntityRules())
        env.harness.client("sqs").send_message(
            QueueUrl=audit.dlq_url, MessageBody=outbound.body, MessageAttributes=outbound.attributes
        )

        # WHEN the operator runs every command; THEN none is refused and each did its work
        code, status, err = env.as_operator(capsys, "status")
        assert code == 0, err
        assert not any(word in err for word in DENIED), err
        assert not any(word in note for note in status["notes"] for word in DENIED), status
        depths = {
            (q["owner"], q["role"], q["url"]): q["visible"] + q["in_flight"]
            for q in status["queues"]
        }
        # ... every consumer's queue and DLQ with its depth, the router DLQ, and the
        # discarded batch waiting in the OnFailure bucket
        for consumer in env.resolved.consumers:
            assert (consumer.name, "queue", consumer.queue_url) in depths, status
            assert (consumer.name, "dlq", consumer.dlq_url) in depths, status
        assert depths[("audit-log", "dlq", audit.dlq_url)] == 1, status
        assert depths[("router", "router-dlq", env.resolved.router_dlq_url)] == 1, status
        assert status["failed_batches"] == 1, status

        code, peeked, err = env.as_operator(capsys, "dlq", "peek", "audit-log")
        assert (code, len(peeked["messages"])) == (0, 1), err

        code, moved, err = env.as_operator(capsys, "dlq", "redrive", "audit-log")
        assert (code, moved["moved"]) == (0, 1), err
        eventually(lambda: env.hub.depth(audit.dlq_url) == 0)

        code, report, err = env.as_operator(capsys, "replay", "stream-failures")
        assert code == 0, err
        assert [b["status"] for b in report["batches"]] == ["replayed"], report
        bucket, _, key = where.partition("/")
        keys = [
            o["Key"] for o in env.harness.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
        ]
        assert f"replayed/{key}" in keys

        code, report, err = env.as_operator(capsys, "replay", "poison")
        assert (code, report["routed"]) == (0, 1), err

        code, report, err = env.as_operator(
            capsys, "backfill", "audit-log", "--checkpoint", str(tmp_path / "checkpoint.json")
        )
        assert code == 0, err
        assert not any(word in err for word in DENIED), err
        # ... and the router published what the replays sent it
        env.wait_published(
            {
                to_outbound(replayed, EntityRules()).envelope_id,
                to_outbound(poison, EntityRules()).envelope_id,
            }
        )

    def test_consumers_lists_the_topics_subscriptions_with_their_owner_tags(
        self, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ):
        # GIVEN a template that declares no consumer, so each owner can only come from
        # its queue's fanout:owner tag (ListQueueTags)
        empty = tmp_path / "template.yaml"
        empty.write_text("Resources: {}\n")
        # WHEN the operator asks who receives order events from the live hub
        code, document, err = env.as_operator(
            capsys, "consumers", "--entity", "order", "--template", str(empty)
        )
        # THEN the topic's subscriptions are read, each with its owner tag
        assert code == 0, err
        rows = {row["consumer"]: row for row in document["consumers"]}
        assert {name: rows[name]["owner"] for name in ("audit-log", "projection")} == {
            "audit-log": "fanout-hub",
            "projection": "fanout-hub",
        }
        assert {row["source"] for row in rows.values()} == {"topic"}

    @pytest.mark.parametrize(
        ("sid", "action"),
        [
            ("ReadTheSubscriptions", "sns:ListSubscriptionsByTopic"),
            ("ReadEachSubscription", "sns:GetSubscriptionAttributes"),
        ],
    )
    def test_without_reading_subscriptions_consumers_is_refused(
        self, env: Env, capsys: pytest.CaptureFixture[str], sid: str, action: str
    ):
        # GIVEN the operator policy minus one of the subscription reads
        with env.operator_without(lambda statement: statement["Sid"] == sid):
            # WHEN
            code, _, err = env.as_operator(capsys, "consumers", "--entity", "order")
        # THEN the hub named cannot be read: a usage error naming the refusal
        assert code == 2, err
        assert "subscriptions could not be read" in err
        assert action.split(":")[1] in err

    def test_without_invoke_function_a_replay_is_denied(
        self, env: Env, capsys: pytest.CaptureFixture[str]
    ):
        # GIVEN the operator policy minus lambda:InvokeFunction, and a discarded batch
        where, _ = env.failed_batch("ORDER#denied", 3)
        with env.operator_without(
            lambda statement: statement.get("Action") == "lambda:InvokeFunction"
        ):
            # WHEN
            code, _, err = env.as_operator(capsys, "replay", "stream-failures")

        # THEN the invoke is refused and the batch stays where it was, for a later replay
        assert code == 1
        assert "AccessDeniedException" in err
        assert "lambda:InvokeFunction" in err
        bucket, _, key = where.partition("/")
        env.harness.client("s3").head_object(Bucket=bucket, Key=key)

    @pytest.mark.parametrize(
        ("sid", "action"),
        [
            ("ReadTheRouter", "lambda:GetFunctionConfiguration"),
            ("ReadMappings", "lambda:ListEventSourceMappings"),
        ],
    )
    def test_without_reading_the_router_a_command_stops_naming_the_permission(
        self, env: Env, capsys: pytest.CaptureFixture[str], sid: str, action: str
    ):
        # GIVEN the operator policy minus one of the router reads every command makes
        with env.operator_without(lambda statement: statement["Sid"] == sid):
            # WHEN
            code, _, err = env.as_operator(capsys, "status")

        # THEN the command stops with the refusal instead of running on guessed settings
        assert code == 1
        assert "AccessDeniedException" in err
        assert action in err

    def test_it_reaches_no_other_environments_queues_or_stacks(self, env: Env):
        # GIVEN the same template deployed as "fanout-hub-dev" in the same account and
        # region (samconfig.toml's other environments); CloudFormation names nested
        # stacks "<parent>-<LogicalId>-<random>" and queues "<stack>-<LogicalId>-<random>"
        identity = env.access.authorizer.identity(OPERATOR_ACCESS_KEY)
        (document,) = identity.policies
        (queues,) = [s for s in document["Statement"] if s["Sid"] == "QueuesAndDeadLetters"]
        account = env.resolved.outputs["OperatorPolicyArn"].split(":")[4]
        sqs = f"arn:aws:sqs:{env.hub.region}:{account}"
        others = [
            f"{sqs}:fanout-hub-dev-RouterDeadLetterQueue-1A2B3C4D5E6F",
            f"{sqs}:fanout-hub-dev-AuditLogConsumer-1Q2W3E4R5T6Y-DeadLetterQueue-7U8I9O",
            f"{sqs}:fanout-hub-prod-ProjectionConsumer-1Q2W3E4R5T6Y-Queue-7U8I9O",
            f"{sqs}:fanout-hub-dev-AuditLogConsumer-DeadLetterQueue-7U8I9O",
        ]
        own = [arn for c in env.resolved.consumers for arn in (c.queue_arn, c.dlq_arn)]

        # WHEN / THEN every queue action is refused on the other stacks' queues, and
        # allowed on this hub's own
        for action in queues["Action"]:
            for arn in others:
                decision, _ = env.access.authorizer.decide(identity, Target(action, arn))
                assert not decision.allowed, (action, arn)
            for arn in own:
                decision, reason = env.access.authorizer.decide(identity, Target(action, arn))
                assert decision.allowed, (action, arn, reason)
        stacks = f"arn:aws:cloudformation:{env.hub.region}:{account}:stack"
        listing = "cloudformation:ListStackResources"
        other_stack = Target(listing, f"{stacks}/fanout-hub-dev/0a1b2c3d")
        own_stack = Target(listing, f"{stacks}/fanout-hub/0a1b2c3d")
        assert not env.access.authorizer.decide(identity, other_stack)[0].allowed
        assert env.access.authorizer.decide(identity, own_stack)[0].allowed

    def test_it_reads_and_empties_the_router_dlq_but_never_writes_it(self, env: Env):
        # A letter the operator could send to the router DLQ would be published by the
        # router on the next `replay poison`, around the topic's OnlyTheRouterPublishes.
        identity = env.access.authorizer.identity(OPERATOR_ACCESS_KEY)
        router_dlq = queue_arn_of(
            env.harness.client("sqs"), env.resolved.need("router_dlq_url", "-")
        )

        def allowed(action: str) -> bool:
            return env.access.authorizer.decide(identity, Target(action, router_dlq))[0].allowed

        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert allowed(action), action
        for action in ("sqs:SendMessage", "sqs:StartMessageMoveTask"):
            assert not allowed(action), action

    def test_it_cannot_plant_a_failed_batch_or_overwrite_a_claim_check(self, env: Env):
        # A batch written where Lambda writes would be published by the next replay; an
        # object written under envelopes/ would replace what consumers read for a live
        # envelope. Replays and backfills write only under replayed/ and backfill/.
        identity = env.access.authorizer.identity(OPERATOR_ACCESS_KEY)
        failed = env.resolved.need("failure_destination", "-").removeprefix("arn:aws:s3:::")
        payloads = env.resolved.need("payload_bucket", "-")

        def allowed(action: str, bucket: str, key: str) -> bool:
            target = Target(action, f"arn:aws:s3:::{bucket}/{key}")
            return env.access.authorizer.decide(identity, target)[0].allowed

        assert not allowed("s3:PutObject", failed, "aws/lambda/mapping/shard/2026/12/06/x")
        assert not allowed("s3:PutObject", payloads, "envelopes/Orders/x.json")
        assert not allowed("s3:DeleteObject", failed, "replayed/aws/lambda/x")
        assert allowed("s3:GetObject", failed, "aws/lambda/mapping/shard/2026/12/06/x")
        assert allowed("s3:DeleteObject", failed, "aws/lambda/mapping/shard/2026/12/06/x")
        assert allowed("s3:PutObject", failed, "replayed/aws/lambda/x")
        assert allowed("s3:PutObject", payloads, "backfill/Orders/x.json")


class TestAnotherProcess:
    """`fanout replay` in another terminal than `fanout local up` answers the invoke itself."""

    def test_a_replay_from_another_process_runs_the_router_there(
        self, env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        # GIVEN the hub's state file, where `fanout local up` leaves it, and a failed batch
        monkeypatch.setattr(local_hub, "STATE_FILE", tmp_path / "fanout-local-hub.json")
        env.hub.save_state()
        _, record = env.failed_batch("ORDER#elsewhere", 4)

        # WHEN the operator replays from a fresh interpreter (its temp dir is the state's)
        ran = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "fanout.cli",
                "replay",
                "stream-failures",
                "--endpoint-url",
                env.url,
                "--profile",
                OPERATOR_PROFILE,
                "--json",
            ],
            env={
                **os.environ,
                "TMPDIR": str(tmp_path),
                "AWS_SHARED_CREDENTIALS_FILE": str(env.credentials),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        # THEN that process ran the router, under the router's role, and it published
        assert ran.returncode == 0, ran.stderr[-3000:]
        report = json.loads(ran.stdout)
        # (with the batch a denied replay left behind, if that test ran first)
        assert {b["status"] for b in report["batches"]} == {"replayed"}
        env.wait_published({to_outbound(record, EntityRules()).envelope_id})
