"""Another team's project, from a fresh clone, consumes the hub from a second account.

The local hub (account 123456789012) grants account 210987654321 through
``ConsumerAccountIds``; ``examples/other-team`` of a fresh clone is deployed in that
account (``LocalHub.deploy_consumer``: moto's accounts are entered with STS
AssumeRole, https://docs.getmoto.org/en/latest/docs/multi_account.html). It reads the
hub's discovery parameters by ARN, nests the kit by its published URL and attaches
the hub's runtime layer, each allowed by the hub's policies as AWS requires
(``fanout.crossaccount``); its function runs under its own role in its own account.

What a user relies on: an order reaches the team's function through its filter policy,
a customer does not, and an oversize order's claim check is read from the hub's bucket
with the team's role, allowed only by the hub's grant: "the principal's
identity-based policy and the resource-based policy must both allow the request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support.fresh_clone import clone_head
from support.other_team import (
    EXAMPLE,
    OTHER_ACCOUNT,
    ROOT,
    TEAM_ACCOUNT,
    bodies,
    cross_account_parameters,
    deploy_example,
    failures,
    finished,
    function_of,
    shared_parameter,
)
from support.waiting import eventually

from fanout.crossaccount import CrossAccountRefusedError
from fanout.local.consumer import live_stacks
from fanout.local.demo import Table
from fanout.local.esm import EmulatorSettings
from fanout.local.hub import ConsumerStack, LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings

pytestmark = pytest.mark.e2e

OVERSIZE_BYTES = 300_000  # over the topic's 256 KiB: published as a claim check
SETTINGS = EmulatorSettings(
    stream=StreamSettings(poll_interval_seconds=0.05),
    queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
)


@dataclass
class Run:
    """The hub, the team's stack, a second team's, and the envelope id of each item written."""

    hub: LocalHub
    consumer: ConsumerStack
    function: str
    ungranted: ConsumerStack
    envelopes: dict[str, str]
    timings: dict[str, float]
    logs: io.StringIO


def hub_granting(accounts: str, logs: io.StringIO) -> LocalHub:
    return LocalHub(
        parameters={"ConsumerAccountIds": accounts},
        settings=SETTINGS,
        handler_output=logs,
    )


def envelope_ids(hub: LocalHub) -> dict[str, str]:
    """Partition key ("ORDER#1") to envelope id, of everything the router was given."""
    found: dict[str, str] = {}
    for record in hub.sources():
        if record.envelope_id and record.body:
            subject = json.loads(record.body)["subject"]  # the item's key, as JSON text
            found[json.loads(subject)["pk"]] = record.envelope_id
    return found


def without_claim_checks_for(hub: LocalHub, account: str) -> None:
    """Take ``account`` off the payload bucket's claim-check grant (before anything reads it)."""
    s3 = hub.clients.client("s3")
    bucket = hub.deployment.outputs["PayloadBucketName"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    for statement in policy["Statement"]:
        if statement.get("Sid") == "ConsumerAccountsReadClaimChecks":
            principals = statement["Principal"]["AWS"]
            statement["Principal"]["AWS"] = [p for p in principals if account not in p]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Clone, hub up, the example deployed in two accounts, three items written.

    TEAM_ACCOUNT is granted everything; OTHER_ACCOUNT everything but the claim checks.
    """
    timings: dict[str, float] = {}
    logs = io.StringIO()
    started = time.monotonic()
    clone = clone_head(tmp_path_factory.mktemp("fresh") / "fanout-hub")
    project = clone / "examples" / "other-team"
    timings["clone"] = time.monotonic() - started
    with hub_granting(f"{TEAM_ACCOUNT},{OTHER_ACCOUNT}", logs) as hub:
        timings["hub up"] = time.monotonic() - started
        without_claim_checks_for(hub, OTHER_ACCOUNT)
        consumer = deploy_example(hub, project)
        timings["example deployed"] = time.monotonic() - started
        function = function_of(consumer)
        ungranted = deploy_example(hub, project, account=OTHER_ACCOUNT)
        table = Table(hub)
        table.put("ORDER#1", "ORDER", status="placed")
        table.put("CUSTOMER#1", "PROFILE", name="Customer 1")
        table.put("ORDER#9", "ORDER", status="placed", notes="x" * OVERSIZE_BYTES)
        eventually(lambda: finished(hub, function), timeout=60)
        timings["first event"] = time.monotonic() - started
        envelopes = envelope_ids(hub)
        eventually(
            lambda: (
                set(envelopes.values()) & finished(hub, function)
                >= {envelopes["ORDER#1"], envelopes["ORDER#9"]}
            ),
            timeout=60,
        )
        print(f"other-team from clone to first event: {timings}")  # noqa: T201 - shown with -s
        yield Run(hub, consumer, function, ungranted, envelopes, timings, logs)


class TestDelivery:
    """The team's function gets what its filter policy selects, in its own account."""

    def test_the_stack_is_in_the_team_account(self, run: Run):
        assert run.consumer.stack.account == TEAM_ACCOUNT
        function = run.consumer.deployment.functions[0]
        assert function.function_arn.split(":")[4] == TEAM_ACCOUNT

    def test_an_order_reaches_the_team(self, run: Run):
        assert run.envelopes["ORDER#1"] in finished(run.hub, run.function)

    def test_a_customer_does_not(self, run: Run):
        # The router published it (the hub's own consumers get it) ...
        customer = run.envelopes["CUSTOMER#1"]
        # ... but the team's filter policy {"entity": ["order"]} keeps it off its queue.
        assert customer not in finished(run.hub, run.function)
        assert all(customer not in body for body in bodies(run.hub, run.function))
        assert failures(run.hub, run.function) == []

    def test_an_oversize_order_is_resolved_from_the_hubs_bucket(self, run: Run):
        # What reached the team's queue was a claim check (dataref) ...
        oversize = run.envelopes["ORDER#9"]
        received = [json.loads(body) for body in bodies(run.hub, run.function)]
        (pointer,) = [envelope for envelope in received if envelope["id"] == oversize]
        assert pointer["dataref"].startswith("s3://")
        assert "data" not in pointer
        # ... which the team's role read from the hub's payload bucket, across accounts.
        assert oversize in finished(run.hub, run.function)

    def test_the_function_ran_with_its_layers(self, run: Run):
        # The hub's runtime layer runs from the hub's source tree (the repository) ...
        layers = run.consumer.deployment.functions[0].layers
        assert Path(layers[0]) == ROOT
        # ... the team's code layer from what its Makefile built (build-CodeLayer), as
        # sam build makes it: its package and its requirements under python/.
        built = Path(layers[-1])
        assert built.name == "python"
        assert (built / "other_team" / "app.py").is_file()
        assert (built / "humanize" / "__init__.py").is_file()
        # The hub's environment lacks humanize: the orders went through with the build
        # alone. Asked in a fresh interpreter of that environment: in this process the
        # emulator swaps the function's modules in while it runs it.
        probe = (
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('humanize') is not None)"
        )
        assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0  # noqa: S603


def role_s3(hub: LocalHub, function: str) -> Any:
    """An S3 client signing with ``function``'s role, as its code's calls are signed."""
    assert hub.access is not None
    credentials = hub.access.function_credentials[function]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        region_name=hub.clients.region,
    )
    return session.client("s3", endpoint_url=hub.endpoint_url)


class TestRefusals:
    """What AWS refuses without the hub's grants, the local hub refuses too."""

    def test_without_the_claim_check_grant_the_read_is_refused(self, run: Run):
        hub, function = run.hub, function_of(run.ungranted)
        # The second account's function failed on the oversize order and is retried ...
        eventually(lambda: failures(hub, function), timeout=60)
        # ... while its small order went through.
        eventually(lambda: run.envelopes["ORDER#1"] in finished(hub, function), timeout=60)
        assert run.envelopes["ORDER#9"] not in finished(hub, function)
        # The refusal itself, asked as each function's role would ask it: the granted
        # account reads the claim check, the other one is refused by the bucket policy.
        (pointer,) = [
            json.loads(body)
            for body in bodies(hub, run.function)
            if json.loads(body)["id"] == run.envelopes["ORDER#9"]
        ]
        bucket, key = pointer["dataref"].removeprefix("s3://").split("/", 1)
        assert role_s3(hub, run.function).get_object(Bucket=bucket, Key=key)["Body"].read()
        with pytest.raises(ClientError) as refused:
            role_s3(hub, function).get_object(Bucket=bucket, Key=key)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert f"arn:aws:iam::{OTHER_ACCOUNT}:role/" in str(refused.value)

    def test_without_a_grant_the_kit_is_not_read(self, run: Run):
        s3 = run.hub.clients.client("s3")
        bucket = run.hub.deployment.outputs["ArtifactsBucketName"]
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        s3.delete_bucket_policy(Bucket=bucket)
        try:
            with pytest.raises(CrossAccountRefusedError, match="s3:GetObject"):
                run.hub.deploy_consumer(
                    EXAMPLE / "template.yaml",
                    account=TEAM_ACCOUNT,
                    stack_name="refused",
                    parameters=cross_account_parameters(),
                )
        finally:
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)

    def test_an_account_not_granted_is_refused(self, run: Run):
        # ... with the local fix: the hub's grant of that account.
        with pytest.raises(
            CrossAccountRefusedError,
            match=r"not shared with account 444455556666.*--parameter ConsumerAccountIds=444455556666",
        ):
            deploy_example(run.hub, account="444455556666")

    def test_a_parameter_that_does_not_exist_is_not_found(self, run: Run):
        # Not a missing share: there is nothing to share (a mistyped hub stack name).
        parameters = {**cross_account_parameters(), "HubTopicArn": shared_parameter("nope")}
        with pytest.raises(CrossAccountRefusedError, match=r"HubTopicArn: .* not found"):
            run.hub.deploy_consumer(
                EXAMPLE / "template.yaml",
                account=TEAM_ACCOUNT,
                stack_name="mistyped",
                parameters=parameters,
            )


def example_copy(into: Path, requirements: str | None = None) -> Path:
    """A copy of the example (its requirements.txt replaced by ``requirements``)."""
    project = into / "other-team"
    shutil.copytree(EXAMPLE, project)
    if requirements is not None:
        (project / "src" / "requirements.txt").write_text(requirements, encoding="utf-8")
    return project


def subscribed(hub: LocalHub, queue_arn: str) -> int:
    """How many subscriptions of the hub's topic deliver to ``queue_arn``."""
    sns = hub.clients.client("sns")
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=hub.topic_arn)
    return sum(s["Endpoint"] == queue_arn for page in pages for s in page["Subscriptions"])


class TestLifecycle:
    """A run that stops cleans up after itself; one that did not is replaced."""

    def test_a_missing_dependency_is_reported_as_the_invocation_error(self, run: Run, tmp_path):
        # The team forgot humanize in requirements.txt: its build succeeds, its handler
        # cannot import, and every delivery fails with the import error.
        project = example_copy(tmp_path, "# nothing\n")
        broken = run.hub.deploy_consumer(
            project / "template.yaml",
            account=TEAM_ACCOUNT,
            stack_name="forgot-a-dependency",
            parameters=cross_account_parameters(),
        )
        try:
            Table(run.hub).put("ORDER#77", "ORDER", status="placed")
            function = function_of(broken)
            eventually(lambda: failures(run.hub, function), timeout=60)
            assert failures(run.hub, function)[0] == (
                "ModuleNotFoundError: No module named 'humanize'"
            )
        finally:
            broken.remove()

    def test_a_stack_left_behind_is_replaced_and_a_stopped_one_removed(
        self, run: Run, tmp_path, monkeypatch: pytest.MonkeyPatch
    ):
        # Whatever is fetched or built lives under the temporary folder, and goes with the run.
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        first = deploy_example(run.hub, account=OTHER_ACCOUNT, stack_name="rerun")
        first.emulator.stop()  # the process died: its stack stays
        first.discard_build()
        second = deploy_example(run.hub, account=OTHER_ACCOUNT, stack_name="rerun")
        assert second.replaced == ("rerun-OrdersConsumer", "rerun")
        (mapping,) = second.deployment.queue_mappings
        queue = mapping.source_arn
        assert subscribed(run.hub, queue) == 1  # the old subscription went with its stack
        second.remove()
        assert live_stacks(second.connection, ["rerun", "rerun-OrdersConsumer"]) == []
        assert subscribed(run.hub, queue) == 0
        assert [p.name for p in scratch.iterdir() if p.name.startswith("fanout-")] == []


class TestCommandLine:
    """``fanout local deploy-consumer`` as a team runs it, from another terminal."""

    def test_it_runs_the_team_until_ctrl_c_and_then_deletes_its_stack(
        self, run: Run, tmp_path, monkeypatch: pytest.MonkeyPatch
    ):
        # The running hub as `fanout local up` leaves it for other terminals.
        monkeypatch.setattr("fanout.local.hub.STATE_FILE", tmp_path / "fanout-local-hub.json")
        run.hub.save_state()
        overrides = [f"{k}={v}" for k, v in cross_account_parameters().items()]
        command = [
            str(Path(sys.executable).parent / "fanout"),
            *("local", "deploy-consumer", str(EXAMPLE), "--account", TEAM_ACCOUNT),
            *("--stack-name", "from-the-cli", "--logs", str(tmp_path / "functions.log")),
            *("--parameter-overrides", *overrides),
        ]
        child = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            env={**os.environ, "TMPDIR": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = Lines(child)
        try:
            lines.until("running its functions", timeout=120)
            assert f"function logs: {tmp_path / 'functions.log'}" in lines.seen
            Table(run.hub).put("ORDER#42", "ORDER", status="placed")
            lines.until("other-team-orders: delivered=1 processed=1", timeout=60)
            child.send_signal(signal.SIGINT)  # Ctrl-C
            assert child.wait(timeout=60) == 0
        finally:
            if child.poll() is None:
                child.kill()
        lines.rest()
        assert f"deleted stack from-the-cli from account {TEAM_ACCOUNT}" in lines.seen
        team = run.hub.access.accounts(TEAM_ACCOUNT) if run.hub.access else None
        assert team is not None
        assert live_stacks(team, ["from-the-cli", "from-the-cli-OrdersConsumer"]) == []
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("fanout-")] == [
            "fanout-local-hub.json"
        ]


class Lines:
    """A child's output, read line by line up to an expected one (with a deadline)."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.seen = ""
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        stdout = child.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"exited before {text!r}:\n{self.seen}"
            self.seen += line

    def rest(self) -> None:
        while (line := self._queue.get(timeout=30)) is not None:
            self.seen += line
