"""Entity contracts as the router reads them: the shipped schemas, the modes, the violations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.builders import a_stream_record, an_order
from support.hostile import canaries_in, canary

from fanout.deploy.template import load_template
from fanout.schema import sources
from router.contracts import (
    CONTRACT_MODE_PATTERN,
    ENTITY_DATASCHEMA_PREFIX,
    ENTITY_SCHEMA_DIR,
    SCHEMA_FILE,
    ContractModes,
    Contracts,
    contract_modes,
    entity_dataschema,
    shipped_schemas,
)
from router.normalise import EntityRules, to_outbound
from schemas import entities, export

ROOT = Path(__file__).resolve().parents[3]


def _order_body(**fields: object) -> str:
    """The envelope the router writes for an order INSERT whose item has ``fields``."""
    record = a_stream_record(keys={"pk": "ORDER#1", "sk": "ORDER"}, new=an_order(1, **fields))
    return to_outbound(record, EntityRules()).body


class TestTheRouterReadsWhatMakeSchemasWrites:
    """The router's copies of the contract names are the schemas package's own."""

    def test_names_agree_with_schemas_entities_and_export(self):
        assert ENTITY_DATASCHEMA_PREFIX == entities.DATASCHEMA_PREFIX
        assert entity_dataschema("order", 3) == entities.dataschema_of("order", 3)
        assert ENTITY_SCHEMA_DIR == export.ENTITY_SCHEMA_DIR

    def test_every_contract_is_found_at_its_current_version(self):
        found = shipped_schemas()
        assert {e: v for e, (v, _) in found.items()} == {
            entity: contract.version for entity, contract in entities.contracts().items()
        }
        for entity, (version, path) in found.items():
            assert path.name == export.entity_schema_name(entity, version)

    def test_the_highest_version_is_the_current_one(self, tmp_path):
        # GIVEN two versions of one entity's schema WHEN the router reads the folder
        for version in (1, 2, 10):
            (tmp_path / export.entity_schema_name("user", version)).write_text("{}")
        (tmp_path / "notes.txt").write_text("not a schema")
        # THEN version 10 is the one it checks against
        assert {e: v for e, (v, _) in shipped_schemas(tmp_path).items()} == {"user": 10}
        assert Contracts.shipped(folder=tmp_path).dataschemas == {
            "user": "urn:fanout-hub:schema:entity:user:10"
        }

    @pytest.mark.parametrize(
        ("name", "entity"),
        [("order.v1.schema.json", "order"), ("line-item_2.v12.schema.json", "line-item_2")],
    )
    def test_one_file_name_rule_for_the_router_and_the_schema_check(self, name, entity):
        match = SCHEMA_FILE.match(name)
        assert match is not None
        assert match["entity"] == entity
        assert sources.SCHEMA_FILE is SCHEMA_FILE
        assert SCHEMA_FILE.match(export.entity_schema_name(entity, 3))

    @pytest.mark.parametrize(
        "name", ["Order.v1.schema.json", "order.v0.schema.json", "order.v1.schema.json.bak"]
    )
    def test_names_the_router_never_writes_are_not_schemas(self, name):
        # The router writes entity names in lower case; a version starts at 1.
        assert SCHEMA_FILE.match(name) is None

    def test_no_folder_means_no_contract(self, tmp_path):
        contracts = Contracts.shipped(folder=tmp_path / "absent")
        assert not contracts
        assert contracts.get("order") is None


class TestContractMode:
    """CONTRACT_MODE: a default mode, entity=mode pairs, or both."""

    @pytest.mark.parametrize(
        ("text", "default", "by_entity"),
        [
            ("observe", "observe", {}),
            ("enforce", "enforce", {}),
            ("order=enforce", "observe", {"order": "enforce"}),
            (
                "enforce,Order=observe,user=enforce",
                "enforce",
                {"order": "observe", "user": "enforce"},
            ),
        ],
    )
    def test_accepted(self, text, default, by_entity):
        modes = contract_modes(text)
        assert (modes.default, dict(modes.by_entity)) == (default, by_entity)

    @pytest.mark.parametrize(
        "text",
        [
            "strict",
            "observe,enforce",
            "order=strict",
            "=enforce",
            "order=enforce,order=observe",
            "order=enforce,observe",  # the default comes first
            "observe, order=enforce",  # no spaces
            "",
        ],
    )
    def test_refused(self, text):
        with pytest.raises(ValueError, match=r"must be|twice"):
            contract_modes(text)

    def test_an_entity_without_its_own_mode_takes_the_default(self):
        modes = ContractModes("enforce", {"order": "observe"})
        assert (modes.of("order"), modes.of("user")) == ("observe", "enforce")

    @pytest.mark.parametrize(
        "text",
        [
            "observe",
            "enforce",
            "observe,order=enforce",
            "order=enforce,user=observe",
            "strict",
            "observe,enforce",
            "order=strict",
            "order=enforce,observe",
            "observe, order=enforce",
            "",
        ],
    )
    def test_the_template_parameter_admits_what_the_router_parses(self, parameter, text):
        """CloudFormation's AllowedPattern must match the whole value, in Java regex syntax
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-regexes.html).

        One rule: the parameter's pattern is the router's own text, so a value CloudFormation
        lets through is one the router parses (an entity named twice aside, refused at
        cold start with ``ConfigurationError``)."""
        assert parameter["AllowedPattern"] == CONTRACT_MODE_PATTERN
        try:
            contract_modes(text)
            parses = True
        except ValueError:
            parses = False
        assert bool(re.fullmatch(parameter["AllowedPattern"], text)) == parses
        assert contract_modes(parameter["Default"]) == ContractModes()


@pytest.fixture(scope="module")
def parameter() -> dict[str, str]:
    """The hub template's ContractMode parameter."""
    return load_template(ROOT / "template.yaml")["Parameters"]["ContractMode"]


class TestViolations:
    """An item is told by where and which keyword it breaks, never by its values."""

    def test_an_item_that_matches_has_none(self):
        check = Contracts.shipped().get("order")
        assert check is not None
        assert check.violations(_order_body()) == []

    def test_every_bad_field_is_named_by_path_and_keyword(self):
        check = Contracts.shipped().get("order")
        body = _order_body(
            status=canary(1), total=None, lines=[{"sku": canary(2), "qty": 0}], carrier=7
        )

        violations = check.violations(body)

        assert sorted((v["path"], v["kind"]) for v in violations) == [
            ("new.carrier", "anyOf"),
            ("new.lines[0].qty", "minimum"),
            ("new.status", "enum"),
            ("new.total", "required"),
        ]
        assert canaries_in(json.dumps(violations)) == []

    def test_the_old_image_is_history_not_checked(self):
        # GIVEN an update of an item written under an earlier version (its old image
        # breaks the current contract) and a new image that keeps it
        check = Contracts.shipped().get("order")
        record = a_stream_record(
            "MODIFY",
            keys={"pk": "ORDER#1", "sk": "ORDER"},
            new=an_order(1),
            old=an_order(1, lines=None, status=canary(3)),
        )
        body = to_outbound(record, EntityRules()).body
        # THEN the producer's write is all that is held to the contract
        assert check.violations(body) == []

    def test_a_removal_of_an_item_of_an_earlier_version_has_nothing_to_check(self):
        # A TTL expiry or an erasure of an item written before a bump: only data.old.
        check = Contracts.shipped().get("order")
        record = a_stream_record(
            "REMOVE", keys={"pk": "ORDER#1", "sk": "ORDER"}, old=an_order(1, lines=None)
        )
        assert check.violations(to_outbound(record, EntityRules()).body) == []

    def test_a_removal_without_images_has_nothing_to_check(self):
        check = Contracts.shipped().get("order")
        record = a_stream_record("REMOVE", keys={"pk": "ORDER#1", "sk": "ORDER"}, view="KEYS_ONLY")
        assert check.violations(to_outbound(record, EntityRules()).body) == []
