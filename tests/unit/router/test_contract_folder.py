"""Where the router's contracts come from (``CONTRACT_SCHEMAS``), and the tools that use the same ones.

``fanout backfill``, ``fanout dlq peek`` and the local hub's ledger (asserted in
tests/e2e/test_item_contracts.py) build envelopes as the
router does; with ``EntityRules.of_router`` a snapshot of a contracted entity carries the
entity's ``dataschema``, as the router's envelopes do, not the envelope's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.builders import a_stream_record, an_order

from fanout.ops.backfill import describe_target
from hubcommon.errors import ConfigurationError
from router import app
from router.contracts import Contracts
from router.normalise import EntityRules, to_outbound
from router.settings import Settings
from schemas import export

ROUTER_ENV = {
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:hub",
    "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/router-dlq",
    "PAYLOAD_BUCKET": "payloads-1",
}
ORDER_SCHEMA = "urn:fanout-hub:schema:entity:order:1"


def acontract_folder(tmp_path: Path, entity: str = "user", version: int = 2) -> Path:
    (tmp_path / export.entity_schema_name(entity, version)).write_text(
        json.dumps({"type": "object"})
    )
    return tmp_path


def dataschema(body: str) -> str:
    return str(json.loads(body)["dataschema"])


class TestTheRouterSetting:
    """``CONTRACT_SCHEMAS`` replaces the shipped folder; a missing folder stops the cold start."""

    def test_unset_the_router_holds_items_to_the_shipped_contracts(self):
        assert Settings.from_env(ROUTER_ENV).contract_schemas is None
        assert "order" in Contracts.of_router({}).dataschemas

    def test_set_it_reads_that_folder_only(self, tmp_path: Path):
        folder = acontract_folder(tmp_path)
        settings = Settings.from_env({**ROUTER_ENV, "CONTRACT_SCHEMAS": str(folder)})
        assert settings.contract_schemas == str(folder)
        assert app.contract_folder(settings) == folder
        assert Contracts.shipped(folder=folder).dataschemas == {
            "user": "urn:fanout-hub:schema:entity:user:2"
        }

    def test_a_relative_path_is_refused(self):
        with pytest.raises(ConfigurationError, match="CONTRACT_SCHEMAS"):
            Settings.from_env({**ROUTER_ENV, "CONTRACT_SCHEMAS": "contracts"})

    def test_a_folder_that_is_not_there_fails_the_cold_start(self, tmp_path: Path):
        settings = Settings.from_env({**ROUTER_ENV, "CONTRACT_SCHEMAS": str(tmp_path / "gone")})
        with pytest.raises(ConfigurationError, match="is not a folder"):
            app.contract_folder(settings)

    def test_a_mode_for_an_entity_without_a_contract_fails_the_cold_start(self):
        # GIVEN a misspelt entity in CONTRACT_MODE WHEN the router starts
        settings = Settings.from_env({**ROUTER_ENV, "CONTRACT_MODE": "observe,ordr=enforce"})
        # THEN it stops, naming the unknown entity and the contracted ones
        with pytest.raises(ConfigurationError) as refused:
            app.router_contracts(settings)
        message = str(refused.value)
        assert message.startswith("CONTRACT_MODE: ordr has no contract")
        assert message.endswith("the entities with one: order")

    def test_a_mode_for_a_contracted_entity_is_kept(self):
        settings = Settings.from_env({**ROUTER_ENV, "CONTRACT_MODE": "observe,order=enforce"})
        check = app.router_contracts(settings).get("order")
        assert check is not None
        assert check.mode == "enforce"


class TestToolsUseTheRoutersContracts:
    """Envelopes a tool builds name the contract the router would name."""

    def test_an_order_snapshot_carries_the_order_contract(self):
        record = a_stream_record(keys={"pk": "ORDER#1", "sk": "ORDER"}, new=an_order(1))
        assert dataschema(to_outbound(record, EntityRules()).body) != ORDER_SCHEMA
        assert dataschema(to_outbound(record, EntityRules.of_router({})).body) == ORDER_SCHEMA

    def test_the_routers_folder_and_entity_settings_are_followed(self, tmp_path: Path):
        folder = acontract_folder(tmp_path)
        rules = EntityRules.of_router({"CONTRACT_SCHEMAS": str(folder), "PARTITION_KEY": "pk"})
        assert rules.partition_key == "pk"
        assert rules.dataschemas == {"user": "urn:fanout-hub:schema:entity:user:2"}

    def test_a_folder_only_the_deployed_router_has_falls_back_to_this_checkouts(self):
        # A layer's /opt path is on the function's file system, not the operator's.
        rules = EntityRules.of_router({"CONTRACT_SCHEMAS": "/opt/not-here/entities"})
        assert rules.dataschemas == Contracts.of_router({}).dataschemas

    def test_backfill_snapshots_use_them(self):
        class Table:
            def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto's name
                return {
                    "Table": {
                        "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TableName}",
                        "KeySchema": [{"AttributeName": "pk"}, {"AttributeName": "sk"}],
                    }
                }

        target = describe_target(Table(), "orders", "https://sqs/q", ROUTER_ENV)
        assert target.rules.dataschemas["order"] == ORDER_SCHEMA

    def test_backfill_says_once_which_versions_it_stamps_when_the_routers_folder_is_elsewhere(
        self, capsys: pytest.CaptureFixture[str]
    ):
        # GIVEN a router whose contracts are in a layer under /opt, not on this machine
        env = {**ROUTER_ENV, "CONTRACT_SCHEMAS": "/opt/not-here/entities"}
        # WHEN a backfill describes its target
        target = describe_target(TableDouble(), "orders", "https://sqs/q", env)
        # THEN stderr has one note naming the folder and the versions snapshots carry
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.splitlines() == [
            (
                "note: the router's contract folder /opt/not-here/entities is not on this"
                " machine; snapshots carry this checkout's contract versions: order v1"
            )
        ]
        assert target.rules.dataschemas == {"order": ORDER_SCHEMA}

    def test_no_note_when_the_routers_folder_is_here(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        env = {**ROUTER_ENV, "CONTRACT_SCHEMAS": str(acontract_folder(tmp_path))}
        describe_target(TableDouble(), "orders", "https://sqs/q", env)
        describe_target(TableDouble(), "orders", "https://sqs/q", ROUTER_ENV)
        assert capsys.readouterr().err == ""


class TableDouble:
    """DynamoDB's DescribeTable for a table keyed pk, sk."""

    def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto's name
        return {
            "Table": {
                "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TableName}",
                "KeySchema": [{"AttributeName": "pk"}, {"AttributeName": "sk"}],
            }
        }
