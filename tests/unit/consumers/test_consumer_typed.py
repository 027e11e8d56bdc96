"""Typed consumers: ``@consumer(model=...)`` hands the function the item in its model's version.

A consumer written for ``user`` v1 (``fullname``) and one written for v2 (``firstname`` /
``lastname``) both read items of either version: the contract's ``down`` / ``up`` steps
convert them (tests/support/contracts.py). An item that cannot fit the model goes to the
consumer's DLQ at once with its error, and costs no claim.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from consumer_builders import (
    DynamoDBRequests,
    an_envelope,
    an_sqs_event,
    an_sqs_record,
    failed_ids,
)
from structlog.testing import capture_logs
from support.builders import FakeContext
from support.contracts import CONTRACT, UserV1, UserV2, with_dataschema

from consumers.runtime import (
    BatchResponse,
    Change,
    ConsumerHandler,
    Envelope,
    Mode,
    consumer,
)
from schemas.entities import EntityContract, EntityModel

KEYS = {"pk": "USER#1", "sk": "PROFILE"}
ADA_V1 = {**KEYS, "fullname": "Ada Lovelace", "email": "ada@example.com"}
ADA_V2 = {**KEYS, "firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com"}
ADA_KING_V1 = {**KEYS, "fullname": "Ada King"}
ADA_KING_V2 = {**KEYS, "firstname": "Ada", "lastname": "King"}


def a_user_change(
    new: dict[str, Any] | None, old: dict[str, Any] | None, version: int | None
) -> str:
    """A user envelope from the real router; ``version`` set as its ``dataschema`` (None: none)."""
    op = "MODIFY" if new and old else "INSERT" if new else "REMOVE"
    body = an_envelope(op, keys=KEYS, new=new, old=old)
    return body if version is None else with_dataschema(body, "user", version)


class Seen:
    """A typed consumer function that records each change it was given."""

    def __init__(self) -> None:
        self.changes: list[Change[Any]] = []

    def __call__(self, change: Change[Any]) -> None:
        self.changes.append(change)


def typed(seen: Seen, model: type[EntityModel], mode: Mode = Mode.NATURALLY_IDEMPOTENT) -> Any:
    return consumer(mode=mode, model=model)(seen)


def run(handler: ConsumerHandler, *bodies: str) -> BatchResponse:
    return handler(an_sqs_event(*(an_sqs_record(b) for b in bodies)), FakeContext())


def dead_letter_error(consumer_aws: Any) -> tuple[str, str]:
    """The one dead letter's error type and text."""
    [letter] = consumer_aws.dead_letters()
    attributes = letter["MessageAttributes"]
    return attributes["fanout-error-type"]["StringValue"], attributes["fanout-error"]["StringValue"]


@pytest.mark.usefixtures("consumer_env")
class TestBothVersionsReadEveryItem:
    """The v1 and the v2 consumer each get every user item in their own shape."""

    def test_a_v1_consumer_reads_a_v2_item_through_the_down_step(self, consumer_aws):
        seen = Seen()
        # GIVEN a consumer written for v1 WHEN the producer publishes a v2 change
        response = run(typed(seen, UserV1), a_user_change(ADA_V2, ADA_KING_V2, 2))
        # THEN it gets both images joined back into fullname, as UserV1
        assert failed_ids(response) == []
        assert consumer_aws.dead_letters() == []
        [change] = seen.changes
        assert change.new == UserV1(
            **{**KEYS, "fullname": "Ada Lovelace", "email": "ada@example.com"}
        )
        assert change.old == UserV1(**ADA_KING_V1)
        assert change.published_version == 2
        assert isinstance(change.envelope, Envelope)
        assert change.envelope.data is not None
        assert change.envelope.data.new == ADA_V2  # the envelope keeps what was published

    def test_a_v2_consumer_reads_a_v1_item_through_the_up_step(self, consumer_aws):
        seen = Seen()
        response = run(typed(seen, UserV2), a_user_change(ADA_V1, ADA_KING_V1, 1))
        assert failed_ids(response) == []
        assert consumer_aws.dead_letters() == []
        [change] = seen.changes
        assert change.new == UserV2(**ADA_V2)
        assert change.old == UserV2(**ADA_KING_V2)
        assert change.published_version == 1

    @pytest.mark.parametrize(("model", "item"), [(UserV1, ADA_V1), (UserV2, ADA_V2)])
    def test_an_item_of_the_models_own_version_is_read_as_it_is(self, consumer_aws, model, item):
        seen = Seen()
        run(typed(seen, model), a_user_change(item, None, model.__version__))
        [change] = seen.changes
        assert change.new == model(**item)
        assert change.old is None  # an insert has no old image

    def test_both_consumers_process_the_same_new_items(self, consumer_aws):
        # GIVEN the producer on v2 WHEN two items reach a v1 and a v2 consumer
        items = [a_user_change(ADA_V2, None, 2), a_user_change(None, ADA_KING_V2, 2)]
        v1, v2 = Seen(), Seen()
        run(typed(v1, UserV1), *items)
        run(typed(v2, UserV2), *items)
        # THEN each processed both, in its own shape (a removal has only an old image)
        assert [(c.new, c.old) for c in v1.changes] == [
            (UserV1(**{**KEYS, "fullname": "Ada Lovelace", "email": "ada@example.com"}), None),
            (None, UserV1(**ADA_KING_V1)),
        ]
        assert [(c.new, c.old) for c in v2.changes] == [
            (UserV2(**ADA_V2), None),
            (None, UserV2(**ADA_KING_V2)),
        ]
        assert consumer_aws.dead_letters() == []

    def test_without_an_entity_dataschema_the_item_is_read_as_the_models_version(
        self, consumer_aws
    ):
        # The router sets no entity dataschema for an entity without a contract.
        seen = Seen()
        body = a_user_change(ADA_V1, None, None)
        assert json.loads(body)["dataschema"] == "urn:fanout-hub:schema:envelope:1"
        run(typed(seen, UserV1), body)
        [change] = seen.changes
        assert change.new == UserV1(**ADA_V1)
        assert change.published_version == 1

    def test_an_untyped_consumer_still_gets_the_envelope(self, consumer_aws):
        seen: list[Envelope] = []
        handler = consumer(mode=Mode.NATURALLY_IDEMPOTENT)(seen.append)
        run(handler, a_user_change(ADA_V2, None, 2))
        [envelope] = seen
        assert envelope.dataschema == "urn:fanout-hub:schema:entity:user:2"


@pytest.mark.usefixtures("consumer_env")
class TestTheOldImageIsReadAsTheVersionItWasWrittenIn:
    """After a bump, an update or a removal of an item written before it has a v2 envelope and a v1 ``old``."""

    @pytest.mark.parametrize(
        ("model", "new", "old"),
        [
            (
                UserV1,
                UserV1(**{**KEYS, "fullname": "Ada Lovelace", "email": "ada@example.com"}),
                UserV1(**ADA_KING_V1),
            ),
            (UserV2, UserV2(**ADA_V2), UserV2(**ADA_KING_V2)),
        ],
    )
    def test_an_update_of_a_pre_bump_item(self, consumer_aws, model, new, old):
        # GIVEN the producer on v2 updating an item it wrote as v1 (old is v1-shaped)
        seen = Seen()
        response = run(typed(seen, model), a_user_change(ADA_V2, ADA_KING_V1, 2))
        # THEN each consumer gets both images in its own shape, nothing dead-lettered
        assert failed_ids(response) == []
        assert consumer_aws.dead_letters() == []
        [change] = seen.changes
        assert (change.new, change.old, change.published_version) == (new, old, 2)

    @pytest.mark.parametrize(
        ("model", "old"), [(UserV1, UserV1(**ADA_KING_V1)), (UserV2, UserV2(**ADA_KING_V2))]
    )
    def test_a_removal_of_a_pre_bump_item(self, consumer_aws, model, old):
        # GIVEN a TTL expiry or an erasure of a v1 item after the bump
        seen = Seen()
        run(typed(seen, model), a_user_change(None, ADA_KING_V1, 2))
        assert consumer_aws.dead_letters() == []
        [change] = seen.changes
        assert (change.new, change.old) == (None, old)

    def test_an_old_image_of_no_version_is_refused_as_old(self, consumer_aws):
        seen = Seen()
        run(typed(seen, UserV2), a_user_change(ADA_V2, {**KEYS, "email": "x"}, 2))
        assert seen.changes == []
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert "data.old.firstname: Field required" in error  # the envelope's version's error

    def test_a_bad_new_image_is_not_read_as_an_earlier_version(self, consumer_aws):
        # data.new is the producer's write in the envelope's version: no fallback for it.
        seen = Seen()
        run(typed(seen, UserV2), a_user_change(ADA_V1, None, 2))
        assert seen.changes == []
        _, error = dead_letter_error(consumer_aws)
        assert "data.new.firstname: Field required" in error


class UserBeforeTheBump(EntityModel):
    """``user`` v1 as a consumer built before v2 was published has it."""

    __entity__ = "user"
    __version__ = 1

    fullname: str
    email: str | None = None


# The contract that consumer pinned: v1 only, no step from v2.
BEFORE_THE_BUMP = EntityContract("user", (UserBeforeTheBump,))


@pytest.mark.usefixtures("consumer_env")
class TestAConsumerBuiltBeforeTheBump:
    """Its contract knows no v2: an item that still fits its model as written is handed over."""

    def test_a_compatible_new_version_is_read_as_written_and_told_once(self, consumer_aws):
        # GIVEN v2 adds an optional field (compatible); the consumer's contract stops at v1
        v2_item = {**ADA_V1, "nickname": "Ada"}
        seen = Seen()
        handler = typed(seen, UserBeforeTheBump)
        assert handler.runtime
        with capture_logs() as logs:
            run(handler, a_user_change(v2_item, ADA_V1, 2), a_user_change(v2_item, None, 2))
        # THEN both are handled as UserBeforeTheBump, nothing dead-lettered
        assert consumer_aws.dead_letters() == []
        assert [c.new for c in seen.changes] == [UserBeforeTheBump(**v2_item)] * 2
        assert seen.changes[0].old == UserBeforeTheBump(**ADA_V1)
        # AND item_version_unknown is logged once, with versions and no values
        told = [entry for entry in logs if entry["event"] == "item_version_unknown"]
        assert told == [
            {
                "event": "item_version_unknown",
                "log_level": "warning",
                "entity": "user",
                "published_version": 2,
                "model_version": 1,
                "known_versions": [1],
            }
        ]

    def test_an_item_that_does_not_fit_is_dead_lettered_naming_the_missing_step(self, consumer_aws):
        seen = Seen()
        run(typed(seen, UserBeforeTheBump), a_user_change(ADA_V2, None, 2))
        assert seen.changes == []
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert "no downcaster from version 2 to 1" in error
        assert "data.new.fullname: Field required" in error


@pytest.mark.usefixtures("consumer_env")
class TestAnItemThatCannotFitGoesToTheDlqAtOnce:
    """Permanent: dead-lettered on the first delivery, with its error; the function never runs."""

    def test_a_mismatching_item_is_dead_lettered_with_its_validation_errors(self, consumer_aws):
        seen = Seen()
        bad = {**KEYS, "firstname": "Grace Brewster", "email": "grace@example.com"}  # no lastname
        record = an_sqs_record(a_user_change(bad, None, 2))
        handler = typed(seen, UserV2)
        assert handler.runtime  # built (and logging configured) before capturing
        with capture_logs() as logs:
            response = handler(an_sqs_event(record), FakeContext())
        # THEN acknowledged (not retried), never handled, in the DLQ at once with its error
        assert failed_ids(response) == []
        assert seen.changes == []
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert "data.new.lastname: Field required" in error
        assert "UserV2" in error
        # AND the log line names the field and the kind of error, never a value
        [line] = [entry for entry in logs if entry["event"] == "event_dead_lettered"]
        assert "data.new.lastname: missing" in line["error"]
        assert not any("Grace" in repr(entry) or "grace@" in repr(entry) for entry in logs)

    def test_a_wrong_type_is_named_by_its_path(self, consumer_aws):
        run(typed(Seen(), UserV1), a_user_change({**KEYS, "fullname": 42}, None, 1))
        _, error = dead_letter_error(consumer_aws)
        assert "data.new.fullname: Input should be a valid string" in error
        assert "42" not in error.split("error(s):", 1)[1]

    def test_a_bad_old_image_is_named_as_old(self, consumer_aws):
        run(typed(Seen(), UserV1), a_user_change(ADA_V1, {**KEYS, "email": "x"}, 1))
        _, error = dead_letter_error(consumer_aws)
        assert "data.old.fullname: Field required" in error

    def test_an_envelope_of_another_entity_is_refused(self, consumer_aws):
        seen = Seen()
        order = an_envelope("INSERT", keys={"pk": "ORDER#1", "sk": "META"})
        response = run(typed(seen, UserV1), order)
        assert failed_ids(response) == []
        assert seen.changes == []
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert "entity: 'order' is not 'user'" in error

    def test_a_dataschema_naming_another_entity_is_refused(self, consumer_aws):
        body = with_dataschema(a_user_change(ADA_V1, None, None), "order", 1)
        run(typed(Seen(), UserV1), body)
        _, error = dead_letter_error(consumer_aws)
        assert "dataschema: names entity 'order', not 'user'" in error

    @pytest.mark.parametrize("model", [UserV1, UserV2])
    def test_a_version_with_no_step_to_the_models_names_the_missing_step(self, consumer_aws, model):
        # GIVEN a producer already on v3, which this consumer's contract does not know
        seen = Seen()
        run(typed(seen, model), a_user_change({**KEYS, "name": {"given": "Ada"}}, None, 3))
        assert seen.changes == []
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert "entity 'user': no downcaster from version 3 to 2" in error

    def test_a_step_that_raises_is_named_by_its_type_never_its_text(
        self, consumer_aws, monkeypatch
    ):
        def broken(item: dict[str, Any]) -> dict[str, Any]:
            raise ValueError(f"cannot split {item['fullname']}")

        monkeypatch.setitem(CONTRACT.up, 1, broken)
        run(typed(Seen(), UserV2), a_user_change(ADA_V1, None, 1))
        kind, error = dead_letter_error(consumer_aws)
        assert kind == "InvalidItemError"
        assert error == "data.new: ValueError in the 'user' steps from version 1 to 2"

    def test_a_validator_failing_outside_pydantics_errors_is_permanent_too(
        self, consumer_aws, monkeypatch
    ):
        def broken(cls: type[UserV1], item: Any) -> UserV1:
            raise TypeError(f"cannot read {item}")

        monkeypatch.setattr(UserV1, "model_validate", classmethod(broken))
        response = run(typed(Seen(), UserV1), a_user_change(ADA_V1, None, 1))
        assert failed_ids(response) == []
        _, error = dead_letter_error(consumer_aws)
        assert error == "data.new does not fit UserV1 (user v1): TypeError in its validation"

    def test_a_side_effect_consumer_claims_nothing_for_an_item_that_cannot_fit(self, consumer_aws):
        seen = Seen()
        handler = typed(seen, UserV2, mode=Mode.SIDE_EFFECT)
        handler.runtime  # noqa: B018 - built first, so its client's requests are counted
        requests = DynamoDBRequests()
        run(handler, a_user_change({**KEYS, "firstname": "Ada"}, None, 2))
        assert requests.operations == []
        assert len(consumer_aws.dead_letters()) == 1

    def test_a_side_effect_consumer_claims_a_good_item_once(self, consumer_aws):
        seen = Seen()
        handler = typed(seen, UserV1, mode=Mode.SIDE_EFFECT)
        body = a_user_change(ADA_V2, None, 2)
        run(handler, body)
        run(handler, body)  # redelivered
        assert len(seen.changes) == 1


@pytest.mark.usefixtures("consumer_env")
class TestStepsAreResolvedOncePerPublishedVersion:
    def test_each_published_version_looks_its_steps_up_once(self, consumer_aws, monkeypatch):
        asked: list[tuple[int, int]] = []
        steps = EntityContract.steps

        def counted(contract: EntityContract, from_version: int, to_version: int) -> Any:
            asked.append((from_version, to_version))
            return steps(contract, from_version, to_version)

        monkeypatch.setattr(EntityContract, "steps", counted)
        seen = Seen()
        handler = typed(seen, UserV1)
        run(handler, a_user_change(ADA_V2, ADA_KING_V2, 2), a_user_change(ADA_V2, None, 2))
        run(handler, a_user_change(ADA_V1, None, 1), a_user_change(ADA_V2, None, 2))
        assert len(seen.changes) == 4
        assert asked == [(2, 1), (1, 1)]


class TestTheModelIsCheckedAtImport:
    def test_a_model_outside_any_contract_is_refused(self):
        class Loose(EntityModel):
            __entity__ = "loose"
            __version__ = 1

        with pytest.raises(TypeError, match="EntityContract"):
            consumer(mode=Mode.STATE, model=Loose)

    def test_a_plain_pydantic_model_is_refused(self):
        from pydantic import BaseModel

        class Plain(BaseModel):
            name: str

        with pytest.raises(TypeError, match="EntityModel"):
            consumer(mode=Mode.STATE, model=Plain)  # type: ignore[type-var]
