"""Item contracts, one story on one local hub: a producer's breaking change is caught, old consumers keep working.

The ``user`` entity gets a contract, v1 (``fullname``). Its producer then replaces
``fullname`` with ``firstname`` and ``lastname``:

1. the hub's real router checks ``user`` items against v1 and stamps their envelopes
   ``dataschema`` ``urn:fanout-hub:schema:entity:user:1``;
2. the change made in place (v1 without ``fullname``) makes ``fanout schema check`` exit
   1, naming the field and the consumers to warn: the two typed consumers deployed on the
   hub (``tests/e2e/typed_users``, the consumer kit twice with ``Owner``), found through
   the topic's live subscriptions and their queues' ``fanout:owner`` tags;
3. the change made as v2 with its up and down steps (``tests/support/contracts.py``)
   passes the check; once deployed the router stamps ``user:2``, and the consumer written
   for v1 (``fullname``) and the one written for v2 both read every item, old and new;
4. ``CONTRACT_MODE`` ``observe,order=enforce``: a ``user`` item that breaks v2 is
   published and counted (``ContractViolations``), then refused by each typed consumer on
   its first receipt; an ``order`` that breaks its contract goes to the router DLQ with
   its errors, and an entity without a contract is published as before;
5. with ``user`` then enforced too, the producer (on v2) updates one user it wrote as v1
   and deletes another (a TTL expiry, an erasure): their ``data.old`` is v1, which the
   router does not hold to v2 (it is history), and both typed consumers read each ``old``
   in their own shape (v1 as written, v2 through the up step).

Where the router finds the test's contracts: the test works in a throwaway git
repository with the project's contract layout (``support.contract_repos.ContractRepo``:
``schemas/entities/*.py`` and their exports in ``schemas/json/entities``), which is what
``fanout schema check`` reads, and the hub's ``ContractSchemas`` parameter (the router's
``CONTRACT_SCHEMAS``) names that repository's export folder. The setting serves in
production too (contracts released apart from the router, in a layer under ``/opt``);
here it makes the router hold items to exactly what the check compared, with no
``user`` contract added to the shipped ``schemas/entities``. Moving the producer to v2 is
a deployment: the export folder changes and the router function is recycled
(``InProcessInvoker.recycle``), as Lambda runs an updated function in new execution
environments, so the router reads its contracts again at its next cold start.

SNS delivers to each subscription whose filter policy admits the message attributes
(the typed consumers admit ``{"entity": ["user"]}``):
https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
A consumer's refusal is seen on the first receive (``ApproximateReceiveCount`` 1):
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.cli import Ran, run_fanout
from support.contract_repos import ContractRepo
from support.function_config import update_environment
from support.other_team import HUB_ACCOUNT, cross_account_parameters
from support.queues import drain
from support.waiting import eventually

from fanout.local.demo import Table
from fanout.local.esm import EmulatorSettings
from fanout.local.hub import ConsumerStack, LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from fanout.tail import Tail

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TYPED_USERS = Path(__file__).resolve().parent / "typed_users"
HUB_STACK = "fanout-hub"
SETTINGS = EmulatorSettings(
    stream=StreamSettings(poll_interval_seconds=0.05),
    queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
)
MARK = '"typed-users": '
OWNERS = {"names-v1-team", "names-v2-team"}

USER_V1_ONLY = '''
    """The user contract as first released: version 1 only."""

    from schemas.entities import EntityContract, EntityModel


    class UserV1(EntityModel):
        """A user as the first producer wrote it."""

        __entity__ = "user"
        __version__ = 1

        fullname: str
        email: str | None = None


    CONTRACT = EntityContract("user", (UserV1,))
'''

# The producer's first try: fullname replaced in place, the version kept.
USER_V1_REWRITTEN = '''
    """The user contract with fullname replaced in place."""

    from schemas.entities import EntityContract, EntityModel


    class UserV1(EntityModel):
        """A user as the first producer wrote it."""

        __entity__ = "user"
        __version__ = 1

        firstname: str
        lastname: str
        email: str | None = None


    CONTRACT = EntityContract("user", (UserV1,))
'''

# The versioned path: v1 kept, v2 with the up and down steps.
USER_V2 = (ROOT / "tests" / "support" / "contracts.py").read_text(encoding="utf-8")
ORDER = (ROOT / "schemas" / "entities" / "order.py").read_text(encoding="utf-8")


def user_schema(version: int) -> str:
    return f"urn:fanout-hub:schema:entity:user:{version}"


ORDER_SCHEMA = "urn:fanout-hub:schema:entity:order:1"
ENVELOPE_SCHEMA = "urn:fanout-hub:schema:envelope:1"
NOT_RUN = Ran(-1, "", "not run")


@dataclass
class Story:
    """The hub, the typed consumers, and what each step produced."""

    hub: LocalHub
    stack: ConsumerStack
    output: io.StringIO
    breaking_check: Ran = NOT_RUN
    versioned_check: Ran = NOT_RUN
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Key (pk; ``pk operation`` after the first write) to the envelope the topic carried."""
    router_letters: list[dict[str, Any]] = field(default_factory=list)

    def handled(self, consumer_version: int) -> dict[str, dict[str, Any]]:
        """Key to what the consumer of that version printed for it."""
        lines = [
            json.loads(line[line.index("{") :])
            for line in self.output.getvalue().splitlines()
            if MARK in line
        ]
        by_id = {envelope["id"]: key for key, envelope in self.published.items()}
        return {
            by_id[line["envelope"]]: line
            for line in lines
            if line["typed-users"] == consumer_version and line["envelope"] in by_id
        }

    def consumer_letters(self, consumer_version: int) -> list[dict[str, Any]]:
        """Every message in that consumer's DLQ (received, not deleted)."""
        assert self.stack.connection is not None
        url = self.stack.deployment.outputs[f"V{consumer_version}DeadLetterQueueUrl"]
        return (
            self.stack.connection.client("sqs")
            .receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=0,
            )
            .get("Messages", [])
        )

    def metrics(self) -> dict[str, tuple[int, int]]:
        """Entity to (ContractViolations, ContractRejected), summed over the router's EMF lines."""
        totals: dict[str, tuple[int, int]] = {}
        for line in self.output.getvalue().splitlines():
            if '"FanoutHub/Router"' in line:
                document = json.loads(line[line.index("{") :])
                seen, rejected = totals.get(document["Entity"], (0, 0))
                totals[document["Entity"]] = (
                    seen + document["ContractViolations"],
                    rejected + document["ContractRejected"],
                )
        return totals


def check(repo: ContractRepo, hub: LocalHub) -> Ran:
    """``fanout schema check`` in the repository, with the hub's live subscriptions."""
    return run_fanout(
        [
            *("schema", "check", "--root", str(repo.root)),
            *("--endpoint-url", str(hub.endpoint_url), "--stack-name", HUB_STACK, "--json"),
        ]
    )


def user(table: Table, pk: str, **fields: str) -> None:
    table.put(pk, "PROFILE", **fields)


def see(tail: Tail, story: Story, keys: set[str]) -> None:
    """Until the topic carried an envelope for each key."""

    def carried() -> bool:
        for body in tail.poll():
            envelope = json.loads(body)
            pk = json.loads(envelope["subject"])["pk"]
            key = pk if envelope["operation"] == "created" else f"{pk} {envelope['operation']}"
            story.published[key] = envelope
        return keys <= set(story.published)

    eventually(carried, timeout=60, what=f"envelopes for {sorted(keys)}")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    # GIVEN a release with the user contract v1 (and the order contract), which the router holds items to
    repo = ContractRepo.create(tmp_path_factory.mktemp("contracts") / "repo")
    repo.contract("order", ORDER)
    repo.contract("user", USER_V1_ONLY)
    repo.commit("user contract v1", tag="v1.0.0")
    output = io.StringIO()
    hub = LocalHub(
        parameters={
            "ContractMode": "observe,order=enforce",
            "ContractSchemas": str(repo.root / "schemas" / "json" / "entities"),
        },
        settings=SETTINGS,
        handler_output=output,
    )
    with hub, Tail(hub.topic_arn, endpoint_url=hub.endpoint_url, wait_seconds=0) as tail:
        # AND a consumer written for v1 and one for v2, each with its owner
        stack = hub.deploy_consumer(
            TYPED_USERS / "template.yaml",
            account=HUB_ACCOUNT,
            stack_name="typed-users",
            parameters=cross_account_parameters(),
        )
        table = Table(hub)
        # WHEN the producer writes in v1: a user, orders (one breaking its contract), a customer
        user(table, "USER#3", fullname="Grace Hopper")
        user(table, "USER#4", fullname="Katherine Johnson")  # updated after the bump
        user(table, "USER#5", fullname="Dorothy Vaughan")  # deleted after the bump
        table.put(
            "ORDER#1",
            "ORDER",
            status="placed",
            total=Decimal("19.99"),
            lines=[{"sku": "SKU-1", "qty": 1}],
            tags={"web"},
        )
        table.put("ORDER#2", "ORDER", status="lost", total=Decimal("5.50"))  # bad status, no lines
        table.put("CUSTOMER#1", "PROFILE", name="Customer 1")
        story = Story(hub, stack, output)
        see(tail, story, {"USER#3", "USER#4", "USER#5", "ORDER#1", "CUSTOMER#1"})

        # AND removes fullname in place; THEN the check fails (asserted below)
        repo.contract("user", USER_V1_REWRITTEN)
        story.breaking_check = check(repo, hub)
        # WHEN it makes the change as v2 with its steps instead, and deploys it
        repo.contract("user", USER_V2)
        story.versioned_check = check(repo, hub)
        hub.invoker.recycle(hub.deployment.router.name)
        user(table, "USER#1", firstname="Ada", lastname="Lovelace")
        user(table, "USER#2", firstname="Alan", lastname="Turing")
        user(table, "USER#9", firstname="Nobody")  # no lastname: breaks v2, fits neither model
        see(tail, story, {"USER#1", "USER#2", "USER#9"})
        # WHEN user is enforced too, and the producer (on v2) updates and deletes users
        # it wrote as v1
        update_environment(hub, hub.deployment.router.name, CONTRACT_MODE="enforce")
        user(table, "USER#4", firstname="Katherine", lastname="Johnson")
        table.delete("USER#5", "PROFILE")
        see(tail, story, {"USER#4 updated", "USER#5 deleted"})
        good = {"USER#1", "USER#2", "USER#3", "USER#4", "USER#4 updated", "USER#5 deleted"}
        eventually(
            lambda: good <= set(story.handled(1)) and good <= set(story.handled(2)),
            timeout=60,
            what="both consumers handled the good users and the later changes",
        )
        eventually(
            lambda: story.consumer_letters(1) and story.consumer_letters(2),
            timeout=60,
            what="the bad user in both consumers' DLQs",
        )
        story.router_letters = [
            json.loads(m["Body"]) for m in drain(hub.clients.client("sqs"), hub.router_dlq_url)
        ]
        yield story


class TestTheContractedEntity:
    """The router holds an entity with a contract to its current version and says which."""

    def test_v1_items_are_stamped_with_v1(self, story: Story):
        assert story.published["USER#3"]["dataschema"] == user_schema(1)

    def test_entities_with_and_without_a_contract(self, story: Story):
        assert story.published["ORDER#1"]["dataschema"] == ORDER_SCHEMA
        assert story.published["CUSTOMER#1"]["dataschema"] == ENVELOPE_SCHEMA

    def test_the_hubs_ledger_builds_envelopes_with_the_routers_contracts(self, story: Story):
        # What the router would make of each record now, as the local hub accounts for it.
        envelopes = [json.loads(source.body) for source in story.hub.sources() if source.body]
        by_key = {json.loads(e["subject"])["pk"]: e["dataschema"] for e in envelopes}
        assert by_key["USER#1"] == user_schema(2)
        assert by_key["ORDER#1"] == ORDER_SCHEMA
        assert by_key["CUSTOMER#1"] == ENVELOPE_SCHEMA


class TestTheSchemaCheck:
    """``fanout schema check`` refuses the in-place change and lets the versioned one through."""

    def test_removing_fullname_fails_naming_the_field_and_the_consumers(self, story: Story):
        ran = story.breaking_check
        assert ran.code == 1, ran.err
        report = ran.document()
        assert ("user", "fullname") in {(c["entity"], c["path"]) for c in report["breaking"]}
        listed = report["consumers"]["user"]
        assert {row["owner"] for row in listed} >= OWNERS
        assert all(
            row["source"] == "topic" and row["admits"] == "receives"
            for row in listed
            if row["owner"] in OWNERS
        ), listed

    def test_the_major_bump_with_its_steps_passes(self, story: Story):
        ran = story.versioned_check
        assert ran.code == 0, ran.err + ran.out
        report = ran.document()
        assert report["breaking"] == []
        assert {c["new_version"] for c in report["allowed"]} == {2}


class TestBothConsumersAfterTheBump:
    """A consumer written for v1 and one written for v2 both process the new items."""

    def test_the_router_stamps_v2_once_deployed(self, story: Story):
        assert {story.published[k]["dataschema"] for k in ("USER#1", "USER#2", "USER#9")} == {
            user_schema(2)
        }

    def test_the_v1_consumer_reads_every_item_with_fullname(self, story: Story):
        handled = story.handled(1)
        assert {key: handled[key]["new"]["fullname"] for key in ("USER#1", "USER#2", "USER#3")} == {
            "USER#1": "Ada Lovelace",  # v2, joined by the down step
            "USER#2": "Alan Turing",
            "USER#3": "Grace Hopper",  # v1, as written
        }
        assert all("firstname" not in (line["new"] or {}) for line in handled.values())

    def test_the_v2_consumer_reads_every_item_with_firstname_and_lastname(self, story: Story):
        handled = story.handled(2)
        names = {
            key: (handled[key]["new"]["firstname"], handled[key]["new"]["lastname"])
            for key in ("USER#1", "USER#2", "USER#3")
        }
        assert names == {
            "USER#1": ("Ada", "Lovelace"),  # v2, as written
            "USER#2": ("Alan", "Turing"),
            "USER#3": ("Grace", "Hopper"),  # v1, split by the up step
        }
        assert handled["USER#3"]["published"] == 1
        assert handled["USER#1"]["published"] == 2

    @pytest.mark.parametrize(
        ("consumer_version", "missing"), [(1, "data.new.fullname"), (2, "data.new.lastname")]
    )
    def test_an_item_that_fits_neither_goes_to_each_dlq_at_once(
        self, story: Story, consumer_version: int, missing: str
    ):
        [letter] = story.consumer_letters(consumer_version)
        attributes = letter["MessageAttributes"]
        assert attributes["fanout-error-type"]["StringValue"] == "InvalidItemError"
        assert f"{missing}: Field required" in attributes["fanout-error"]["StringValue"]
        origin = json.loads(attributes["fanout-origin"]["StringValue"])
        assert origin["envelopeId"] == story.published["USER#9"]["id"]
        assert origin["receiveCount"] == 1  # dead-lettered on its first receipt, not retried
        assert "USER#9" not in story.handled(consumer_version)


class TestObserveAndEnforce:
    """Per entity: ``user`` observed (published and counted), ``order`` enforced (dead-lettered)."""

    def test_observe_publishes_and_counts_a_mismatching_user(self, story: Story):
        assert "USER#9" in story.published
        assert story.metrics()["user"] == (1, 0)

    def test_enforce_dead_letters_a_mismatching_order_with_its_errors(self, story: Story):
        assert story.metrics()["order"] == (1, 1)
        assert "ORDER#2" not in story.published
        (letter,) = story.router_letters
        assert letter["reason"] == "contract"
        assert letter["record"]["dynamodb"]["Keys"]["pk"] == {"S": "ORDER#2"}
        assert [(v["path"], v["kind"]) for v in letter["error"]["violations"]] == [
            ("new.lines", "required"),
            ("new.status", "enum"),
        ]


class TestChangesToItemsWrittenBeforeTheBump:
    """``data.old`` is the version the item was written in: history, read, never refused."""

    def test_the_router_publishes_them_in_enforce_without_a_violation(self, story: Story):
        for key in ("USER#4 updated", "USER#5 deleted"):
            envelope = story.published[key]
            assert envelope["dataschema"] == user_schema(2)
            assert "fullname" in envelope["data"]["old"]  # v1, as written before the bump
        assert [letter["record"]["dynamodb"]["Keys"]["pk"] for letter in story.router_letters] == [
            {"S": "ORDER#2"}
        ]
        assert story.metrics()["user"] == (1, 0)  # USER#9 alone

    @pytest.mark.parametrize(
        ("consumer_version", "old_update", "old_delete"),
        [
            (1, {"fullname": "Katherine Johnson"}, {"fullname": "Dorothy Vaughan"}),
            (
                2,
                {"firstname": "Katherine", "lastname": "Johnson"},
                {"firstname": "Dorothy", "lastname": "Vaughan"},
            ),
        ],
    )
    def test_both_consumers_read_the_old_image_in_their_shape(
        self,
        story: Story,
        consumer_version: int,
        old_update: dict[str, str],
        old_delete: dict[str, str],
    ):
        handled = story.handled(consumer_version)
        update, delete = handled["USER#4 updated"], handled["USER#5 deleted"]
        assert update["published"] == delete["published"] == 2
        assert update["old"].items() >= old_update.items()
        assert delete["old"].items() >= old_delete.items()
        assert delete["new"] is None
        assert len(story.consumer_letters(consumer_version)) == 1  # USER#9's alone
