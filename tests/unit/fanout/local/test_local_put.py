"""`fanout local put` writes one plain-JSON item to the running hub's table, numbers exact.

DynamoDB numbers keep up to 38 significant digits; boto3's TypeSerializer refuses a
float and any number it would round, so the item's numbers are read as Decimal.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number
A PutItem must carry every attribute of the primary key, with its declared type.
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from fanout.cli import main
from fanout.local import hub as local_hub
from tests.support.hub_state import dead_pid, write_state

ORDER = '{"pk": "ORDER#100", "sk": "ORDER", "total": 12.5, "ratio": 0.1}'


@pytest.fixture
def table(clients, unique):
    name = f"Orders-{unique}"
    clients.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def running_hub(tmp_path, monkeypatch, endpoint, table):
    """The state file of a running `fanout local up` whose table is ``table``."""
    path = tmp_path / "fanout-local-hub.json"
    monkeypatch.setattr(local_hub, "STATE_FILE", path)
    # Credentials for a real account: they must not be needed, nor sent to the hub.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALACCOUNTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    return write_state(path, endpoint_url=endpoint, table_name=table)


def stored(clients, table, pk="ORDER#100", sk="ORDER"):
    from boto3.dynamodb.types import TypeDeserializer

    got = clients.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return {k: TypeDeserializer().deserialize(v) for k, v in got.get("Item", {}).items()}


class TestWriting:
    def test_the_item_is_written_with_its_numbers_exact(self, running_hub, clients, table, capsys):
        # GIVEN a running hub WHEN an item is put as plain JSON
        code = main(["local", "put", ORDER])
        # THEN it is in the hub's table, numbers as written, and the command says where
        assert code == 0, capsys.readouterr().err
        assert stored(clients, table) == {
            "pk": "ORDER#100",
            "sk": "ORDER",
            "total": Decimal("12.5"),
            "ratio": Decimal("0.1"),
        }
        assert capsys.readouterr().out.strip() == f"wrote to {table}: pk=ORDER#100 sk=ORDER"

    def test_from_a_file_and_from_stdin(self, running_hub, clients, table, tmp_path, monkeypatch):
        # GIVEN items in a file and on stdin WHEN put with --file F, --file - and ITEM_JSON -
        item = tmp_path / "item.json"
        item.write_text('{"pk": "ORDER#1", "sk": "ORDER", "n": 1}')
        assert main(["local", "put", "--file", str(item)]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO('{"pk": "ORDER#2", "sk": "ORDER"}'))
        assert main(["local", "put", "--file", "-"]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO('{"pk": "ORDER#3", "sk": "ORDER"}'))
        assert main(["local", "put", "-"]) == 0
        # THEN all three are in the table
        assert stored(clients, table, "ORDER#1")["n"] == 1
        assert stored(clients, table, "ORDER#2")
        assert stored(clients, table, "ORDER#3")

    def test_a_38_digit_number_is_kept_and_a_39th_refused(
        self, running_hub, clients, table, capsys
    ):
        # GIVEN numbers at DynamoDB's 38-digit precision and beyond it
        exact = "3.1415926535897932384626433832795028841"[:39]  # 38 digits
        assert main(["local", "put", f'{{"pk": "ORDER#pi", "sk": "ORDER", "v": {exact}}}']) == 0
        code = main(["local", "put", f'{{"pk": "ORDER#pi2", "sk": "ORDER", "v": {exact}7}}'])
        # THEN the first is stored to the last digit, the second refused in one line
        assert stored(clients, table, "ORDER#pi")["v"] == Decimal(exact)
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("fanout local put: the item cannot be stored")
        assert len(err.strip().splitlines()) == 1
        assert not stored(clients, table, "ORDER#pi2")


def refusal(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return code, err.strip()


class TestRefusals:
    """Each mistake is one line on stderr and exit 2; nothing is written."""

    @pytest.mark.parametrize(
        ("item", "line"),
        [
            ('{"pk": "ORDER#1", "sk":', "fanout local put: the item is not valid JSON: "),
            ('["ORDER#1"]', "fanout local put: the item must be a JSON object, got list"),
            (
                '{"total": NaN, "pk": "a", "sk": "b"}',
                "fanout local put: the item is not valid JSON: NaN",
            ),
            (
                '{"pk": "ORDER#1", "total": 1}',
                "fanout local put: the item lacks the key attribute(s) of {table}: sk (its key is pk, sk)",
            ),
            (
                '{"total": 1}',
                "fanout local put: the item lacks the key attribute(s) of {table}: pk, sk",
            ),
            (
                '{"pk": 100, "sk": "ORDER"}',
                "fanout local put: key attribute pk of {table} must be a string",
            ),
        ],
    )
    def test_a_bad_item(self, running_hub, table, item, line, capsys):
        code, err = refusal(["local", "put", item], capsys)
        assert code == 2
        assert err.startswith(line.format(table=table))

    def test_no_hub_running(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(local_hub, "STATE_FILE", tmp_path / "none.json")
        code, err = refusal(["local", "put", ORDER], capsys)
        assert code == 2
        assert (
            err
            == "fanout local put: no `fanout local up` is running (start one in another terminal)"
        )

    def test_a_stale_state_file_is_no_hub(self, running_hub, tmp_path, capsys):
        write_state(local_hub.STATE_FILE, endpoint_url=running_hub["endpoint_url"], pid=dead_pid())
        code, err = refusal(["local", "put", ORDER], capsys)
        assert code == 2
        assert "no `fanout local up` is running" in err

    def test_a_missing_file(self, running_hub, tmp_path, capsys):
        code, err = refusal(["local", "put", "--file", str(tmp_path / "nope.json")], capsys)
        assert code == 2
        assert err.startswith("fanout local put: cannot read ")

    def test_both_or_neither(self, running_hub, tmp_path, capsys):
        assert refusal(["local", "put"], capsys)[0] == 2
        assert refusal(["local", "put", ORDER, "--file", "x.json"], capsys)[0] == 2


def test_the_user_s_aws_credentials_are_never_sent(running_hub, monkeypatch):
    """The local endpoint gets the hub's own local key, not the account key in the environment."""
    from fanout.local.put import _client
    from fanout.local.server import FAKE_CREDENTIALS

    seen = []
    client = _client(running_hub)
    client.meta.events.register(
        "before-send.dynamodb.DescribeTable",
        lambda request, **_: seen.append(request.headers["Authorization"].decode()),
    )
    client.describe_table(TableName=running_hub["table_name"])
    assert f"Credential={FAKE_CREDENTIALS['AWS_ACCESS_KEY_ID']}/" in seen[0]
    assert json.dumps(seen).count("AKIAREALACCOUNTKEY00") == 0
