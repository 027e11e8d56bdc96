"""The hub's live view counts a message its consumer dead-lettered apart from the processed ones."""

from __future__ import annotations

import boto3
from support.deliveries import raw_delivery

from consumers.runtime.deadletter import DeadLetterQueue, dead_letter_of
from fanout.local.access import installed
from fanout.local.deadletters import DeadLetterWatch, processed


class TestDeadLetterWatch:
    """A dead letter the runtime sends names its source message; that message is not processed."""

    def test_a_dead_lettered_message_is_not_counted_as_processed(self, aws):
        # GIVEN the watch on every botocore session, and a consumer's DLQ
        watch = DeadLetterWatch()
        with installed(watch.before_call):
            sqs = boto3.client("sqs", region_name="us-east-1")
            dlq = sqs.create_queue(QueueName="billing-dlq")["QueueUrl"]
            poison = raw_delivery("{}", message_id="m-poison")
            # WHEN the runtime dead-letters one message of a batch it reports wholly done
            letter = dead_letter_of(
                poison, consumer="billing", error=ValueError("bad"), envelope_id=None
            )
            DeadLetterQueue(sqs, dlq).send(letter)
        # THEN the watch names it for that consumer only
        assert watch.of("billing") == {"m-poison"}
        assert watch.of("projection") == frozenset()
        # AND of the two messages the mapping deleted, one is processed
        assert processed(["m-poison", "m-ok"], watch.of("billing")) == 1

    def test_other_messages_are_not_dead_letters(self, aws):
        # GIVEN the watch WHEN a plain message is sent THEN nothing is recorded
        watch = DeadLetterWatch()
        with installed(watch.before_call):
            sqs = boto3.client("sqs", region_name="us-east-1")
            url = sqs.create_queue(QueueName="plain")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="{}")
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "{}"}])
        assert watch.of("billing") == frozenset()
