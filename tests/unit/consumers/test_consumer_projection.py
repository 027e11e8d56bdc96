"""The projection: the read model holds each item's newest state, whatever the delivery order."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from consumer_builders import an_envelope, an_sqs_event, an_sqs_record, failed_ids
from support.builders import FakeContext

from consumers.projection.app import handler
from consumers.projection.view import Projection, ProjectionSettings
from schemas import parse_envelope

KEYS = {"pk": "ORDER#42", "sk": "META"}
SUBJECT = '{"pk":"ORDER#42","sk":"META"}'


def seq(n: int) -> str:
    return str(500000000000000000000 + n)


@pytest.fixture
def project(consumer_env, fresh_handlers):
    return lambda *bodies: handler(an_sqs_event(*(an_sqs_record(b) for b in bodies)), FakeContext())


@pytest.fixture
def view(consumer_env):
    return Projection(boto3.client("dynamodb"), ProjectionSettings.from_env())


class TestProjection:
    """Upserts on create/update, tombstones on delete/expiry, newest sequence wins."""

    def test_an_update_is_projected(self, project, view):
        new = {**KEYS, "status": "SHIPPED", "total": Decimal("99.95")}

        response = project(an_envelope("MODIFY", keys=KEYS, new=new, sequence=seq(1)))

        assert failed_ids(response) == []
        state = view.get(SUBJECT)
        assert state is not None
        assert state.item == new

    def test_an_old_update_after_a_new_one_keeps_the_new_state(self, project, view):
        older = an_envelope("MODIFY", keys=KEYS, new={**KEYS, "status": "PLACED"}, sequence=seq(1))
        newer = an_envelope("MODIFY", keys=KEYS, new={**KEYS, "status": "SHIPPED"}, sequence=seq(2))

        project(newer)
        project(older)

        state = view.get(SUBJECT)
        assert state is not None
        assert state.item is not None
        assert state.item["status"] == "SHIPPED"

    def test_redelivery_of_an_old_event_does_not_roll_back(self, project, view):
        first = an_envelope("MODIFY", keys=KEYS, new={**KEYS, "status": "PLACED"}, sequence=seq(1))
        second = an_envelope("MODIFY", keys=KEYS, new={**KEYS, "status": "PAID"}, sequence=seq(2))

        project(first, second)
        project(first)

        state = view.get(SUBJECT)
        assert state is not None
        assert state.item is not None
        assert state.item["status"] == "PAID"

    def test_a_delete_leaves_a_tombstone_that_a_late_update_cannot_revive(self, project, view):
        update = an_envelope("MODIFY", keys=KEYS, sequence=seq(1))
        delete = an_envelope("REMOVE", keys=KEYS, sequence=seq(2))

        project(delete)
        project(update)

        state = view.get(SUBJECT)
        assert state is not None
        assert state.deleted

    def test_the_conditional_write_alone_keeps_newer_state(self, view):
        # Two deliveries racing past the stale-event guard: the write itself decides.
        newer = parse_envelope(
            an_envelope("MODIFY", keys=KEYS, new={**KEYS, "v": 2}, sequence=seq(2))
        )
        older = parse_envelope(
            an_envelope("MODIFY", keys=KEYS, new={**KEYS, "v": 1}, sequence=seq(1))
        )

        assert view.apply(newer, now=0) is True
        assert view.apply(older, now=0) is False

        state = view.get(SUBJECT)
        assert state is not None
        assert state.item is not None
        assert state.item["v"] == 2

    def test_an_update_without_a_new_image_is_dead_lettered(self, project, consumer_aws):
        body = an_envelope("MODIFY", keys=KEYS, view="KEYS_ONLY", sequence=seq(3))

        response = project(body)

        assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        assert (
            letter["MessageAttributes"]["fanout-error-type"]["StringValue"] == "MissingImageError"
        )
