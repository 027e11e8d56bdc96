"""A consumer written for user v1 and one written for v2 both process the same new items.

The local hub grants a second account, where ``tests/e2e/typed_users`` is deployed: the
consumer kit twice, each admitting ``{"entity": ["user"]}`` on the message attributes
(the kit's default scope; "each property name in the filter policy matches a message
attribute name", https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html),
one function typed ``model=UserV1`` (``fullname``), the other ``model=UserV2``
(``firstname`` / ``lastname``), with the contract of ``tests/support/contracts.py``.

The envelopes are the router's own (``router.normalise.to_outbound``) with their
``dataschema`` set to the user contract's version as the router sets it for an entity
with a contract, published to the hub's topic with the router's message attributes.
The producer is on v2; one item was written in v1 before it moved (a replay or a late
record). A last v2 item lacks ``lastname``: it fits neither model and reaches each DLQ
on its first receipt (``ApproximateReceiveCount`` 1,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.builders import a_stream_record
from support.contracts import with_dataschema
from support.other_team import TEAM_ACCOUNT, cross_account_parameters
from support.waiting import eventually

from fanout.local.esm import EmulatorSettings
from fanout.local.hub import ConsumerStack, LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from router.normalise import EntityRules, to_outbound

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parent / "typed_users"
SETTINGS = EmulatorSettings(
    stream=StreamSettings(poll_interval_seconds=0.05),
    queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
)
MARK = '"typed-users": '


def user(pk: str, **fields: str) -> dict[str, str]:
    return {"pk": pk, "sk": "PROFILE", **fields}


# What the producer publishes: (key, new image, contract version it was written in).
PUBLISHED = {
    "USER#1": (user("USER#1", firstname="Ada", lastname="Lovelace"), 2),
    "USER#2": (user("USER#2", firstname="Alan", lastname="Turing"), 2),
    "USER#3": (user("USER#3", fullname="Grace Hopper"), 1),
    "USER#9": (user("USER#9", firstname="Nobody"), 2),  # no lastname: fits neither model
}


@dataclass
class Run:
    """The hub, the two consumers' stack, what was published and what each function printed."""

    hub: LocalHub
    stack: ConsumerStack
    envelopes: dict[str, str]
    """Key to envelope id."""
    output: io.StringIO

    def handled(self, consumer_version: int) -> dict[str, dict[str, Any]]:
        """Envelope id to what the consumer of that version printed for it."""
        lines = [
            json.loads(line[line.index("{") :])
            for line in self.output.getvalue().splitlines()
            if MARK in line
        ]
        return {line["envelope"]: line for line in lines if line["typed-users"] == consumer_version}

    def dead_letters(self, consumer_version: int) -> list[dict[str, Any]]:
        """Every message in that consumer's DLQ (received once, not deleted)."""
        assert self.stack.connection is not None
        sqs = self.stack.connection.client("sqs")
        url = self.stack.deployment.outputs[f"V{consumer_version}DeadLetterQueueUrl"]
        return sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])


def publish(hub: LocalHub) -> dict[str, str]:
    """Publish each user change as the router would for a contract; key to envelope id."""
    sns = hub.clients.client("sns")
    ids: dict[str, str] = {}
    for key, (image, version) in PUBLISHED.items():
        out = to_outbound(
            a_stream_record("INSERT", keys={"pk": key, "sk": "PROFILE"}, new=image), EntityRules()
        )
        assert out.attributes["entity"]["StringValue"] == "user"
        body = with_dataschema(out.body, "user", version)
        sns.publish(TopicArn=hub.topic_arn, Message=body, MessageAttributes=out.attributes)
        ids[key] = out.envelope_id
    return ids


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    output = io.StringIO()
    hub = LocalHub(
        parameters={"ConsumerAccountIds": TEAM_ACCOUNT}, settings=SETTINGS, handler_output=output
    )
    with hub:
        stack = hub.deploy_consumer(
            PROJECT / "template.yaml",
            account=TEAM_ACCOUNT,
            stack_name="typed-users",
            parameters=cross_account_parameters(),
        )
        result = Run(hub, stack, publish(hub), output)
        good = {result.envelopes[k] for k in ("USER#1", "USER#2", "USER#3")}
        eventually(
            lambda: good <= set(result.handled(1)) and good <= set(result.handled(2)),
            timeout=90,
            what="both consumers handled the three good items",
        )
        eventually(
            lambda: result.dead_letters(1) and result.dead_letters(2),
            timeout=60,
            what="the bad item in both DLQs",
        )
        yield result


def test_the_v1_consumer_reads_every_item_with_fullname(run: Run):
    handled = run.handled(1)
    assert {
        key: handled[run.envelopes[key]]["new"]["fullname"] for key in PUBLISHED if key != "USER#9"
    } == {
        "USER#1": "Ada Lovelace",  # v2, joined by the down step
        "USER#2": "Alan Turing",
        "USER#3": "Grace Hopper",  # v1, as written
    }
    assert all("firstname" not in line["new"] for line in handled.values())


def test_the_v2_consumer_reads_every_item_with_firstname_and_lastname(run: Run):
    handled = run.handled(2)
    names = {
        key: (
            handled[run.envelopes[key]]["new"]["firstname"],
            handled[run.envelopes[key]]["new"]["lastname"],
        )
        for key in PUBLISHED
        if key != "USER#9"
    }
    assert names == {
        "USER#1": ("Ada", "Lovelace"),  # v2, as written
        "USER#2": ("Alan", "Turing"),
        "USER#3": ("Grace", "Hopper"),  # v1, split by the up step
    }
    assert handled[run.envelopes["USER#3"]]["published"] == 1


@pytest.mark.parametrize(
    ("consumer_version", "missing"), [(1, "data.new.fullname"), (2, "data.new.lastname")]
)
def test_an_item_that_fits_neither_goes_to_each_dlq_at_once(
    run: Run, consumer_version: int, missing: str
):
    [letter] = run.dead_letters(consumer_version)
    attributes = letter["MessageAttributes"]
    assert attributes["fanout-error-type"]["StringValue"] == "InvalidItemError"
    assert f"{missing}: Field required" in attributes["fanout-error"]["StringValue"]
    origin = json.loads(attributes["fanout-origin"]["StringValue"])
    assert origin["envelopeId"] == run.envelopes["USER#9"]
    assert origin["receiveCount"] == 1  # dead-lettered on its first receipt, not retried
    assert run.envelopes["USER#9"] not in run.handled(consumer_version)
