"""Stream records from GetRecords become exactly what Lambda hands a function."""

from __future__ import annotations

import base64
import datetime as dt

from fanout.connection import Connection
from fanout.local.records import to_lambda_stream_record
from fanout.local.streams import BotoShardReader

STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2024-01-01T00:00:00.000"


class TestConverter:
    """boto3's decoded values are put back into Lambda's JSON encoding."""

    def test_binary_anywhere_in_an_image_is_base64_text(self):
        raw = {
            "eventID": "1",
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"B": b"\x00k"}},
                "NewImage": {
                    "pk": {"B": b"\x00k"},
                    "set": {"BS": [b"a", b"b"]},
                    "map": {"M": {"inner": {"B": b"\xff"}}},
                    "list": {"L": [{"B": b"z"}, {"N": "1.50"}]},
                },
                "SequenceNumber": "1",
            },
        }
        image = to_lambda_stream_record(raw, STREAM_ARN)["dynamodb"]["NewImage"]
        assert image["pk"] == {"B": "AGs="}
        assert image["set"] == {"BS": ["YQ==", "Yg=="]}
        assert image["map"] == {"M": {"inner": {"B": "/w=="}}}
        assert image["list"] == {"L": [{"B": "eg=="}, {"N": "1.50"}]}

    def test_creation_time_is_whole_epoch_seconds(self):
        moment = dt.datetime(2024, 5, 1, 12, 0, 30, 900_000, tzinfo=dt.UTC)
        raw = {
            "eventID": "1",
            "eventName": "INSERT",
            "dynamodb": {"ApproximateCreationDateTime": moment, "SequenceNumber": "1"},
        }
        record = to_lambda_stream_record(raw, STREAM_ARN)
        assert record["dynamodb"]["ApproximateCreationDateTime"] == 1714564830

    def test_envelope_fields_come_from_the_stream_not_from_moto(self):
        raw = {
            "eventID": "1",
            "eventName": "REMOVE",
            "awsRegion": "us-east-1",
            "eventVersion": "1.0",
            "dynamodb": {"SequenceNumber": "1"},
        }
        record = to_lambda_stream_record(raw, STREAM_ARN, ttl_expiry=True)
        assert record["awsRegion"] == "eu-west-1"
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == STREAM_ARN
        assert record["userIdentity"] == {
            "type": "Service",
            "principalId": "dynamodb.amazonaws.com",
        }

    def test_a_user_deletion_has_no_user_identity(self):
        raw = {"eventID": "1", "eventName": "REMOVE", "dynamodb": {"SequenceNumber": "1"}}
        assert "userIdentity" not in to_lambda_stream_record(raw, STREAM_ARN)


class TestAgainstMotoStreams:
    """The quirks seen through boto3 on the moto server are fixed by the converter."""

    def test_a_real_get_records_page_converts_to_lambda_format(
        self, clients: Connection, unique: str
    ):
        dynamodb = clients.client("dynamodb")
        name = f"conv-{unique}"
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}, "blob": {"B": b"\x00\x01hi"}})
        arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        streams = clients.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        (raw,) = BotoShardReader(streams, arn, shard, "TRIM_HORIZON").fetch()
        assert isinstance(raw["dynamodb"]["NewImage"]["blob"]["B"], bytes)  # the quirk
        assert isinstance(raw["dynamodb"]["ApproximateCreationDateTime"], dt.datetime)  # the quirk

        record = to_lambda_stream_record(raw, arn)

        assert base64.b64decode(record["dynamodb"]["NewImage"]["blob"]["B"]) == b"\x00\x01hi"
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
        assert record["eventSourceARN"] == arn
