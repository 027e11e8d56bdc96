"""The committed JSON Schemas are exactly what the models export, and they validate real envelopes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from support.builders import a_stream_record

from router.normalise import EntityRules, to_outbound
from schemas import UnsupportedVersionError, codec, parse_envelope
from schemas.entities import contracts, dataschema_of
from schemas.export import ENTITY_SCHEMA_DIR, PUBLISHED, SCHEMA_DIR, entity_schema_name, render


@pytest.mark.parametrize("filename", sorted(PUBLISHED))
def test_committed_schema_matches_the_model(filename):
    model, schema_id = PUBLISHED[filename]
    committed = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
    assert committed == render(model, schema_id), (
        f"{filename} is out of date with its model: run `make schemas` and review the diff "
        "(a published version must stay backward compatible)"
    )


def test_schema_id_is_the_envelope_dataschema():
    schema = codec.loads((SCHEMA_DIR / "envelope-v1.schema.json").read_text(encoding="utf-8"))
    envelope = parse_envelope(to_outbound(a_stream_record(), EntityRules()).body)
    assert schema["$id"] == envelope.dataschema


def test_every_contract_version_is_exported_and_nothing_else():
    # GIVEN the contracts in schemas.entities THEN schemas/json/entities holds one file per
    # version of each, named for it, and no file a contract no longer has.
    expected = {
        entity_schema_name(entity, model.__version__)
        for entity, contract in contracts().items()
        for model in contract.models
    }
    assert expected, "no entity contract is published (schemas/entities/order.py ships one)"
    assert {p.name for p in ENTITY_SCHEMA_DIR.iterdir()} == expected
    for name in expected:
        schema = codec.loads((ENTITY_SCHEMA_DIR / name).read_text(encoding="utf-8"))
        entity, version = name.removesuffix(".schema.json").rsplit(".v", 1)
        assert schema["$id"] == dataschema_of(entity, int(version))


class TestDataschema:
    """Consumers read envelopes whose dataschema is the envelope's or an entity contract's."""

    @pytest.mark.parametrize(
        "dataschema", ["urn:fanout-hub:schema:envelope:1", "urn:fanout-hub:schema:entity:order:1"]
    )
    def test_accepted(self, dataschema):
        raw = codec.loads(to_outbound(a_stream_record(), EntityRules()).body)
        assert parse_envelope({**raw, "dataschema": dataschema}).dataschema == dataschema

    @pytest.mark.parametrize(
        "dataschema",
        [
            "urn:fanout-hub:schema:envelope:2",
            "urn:fanout-hub:schema:entity:order:0",
            "urn:fanout-hub:schema:entity:order",
            "https://example.com/schema",
        ],
    )
    def test_refused(self, dataschema):
        raw = codec.loads(to_outbound(a_stream_record(), EntityRules()).body)
        with pytest.raises(ValidationError, match="dataschema"):
            parse_envelope({**raw, "dataschema": dataschema})


class TestParseEnvelope:
    """Consumers get a clear error for anything that is not a supported envelope."""

    def test_unknown_version_is_refused_by_name(self):
        body = to_outbound(a_stream_record(), EntityRules()).body.replace(
            '"schemaversion":"1"', '"schemaversion":"99"'
        )
        with pytest.raises(UnsupportedVersionError, match="99"):
            parse_envelope(body)

    def test_data_and_dataref_are_exclusive(self):
        raw = codec.loads(to_outbound(a_stream_record(), EntityRules()).body)
        raw["dataref"] = "s3://bucket-1/key"
        with pytest.raises(ValidationError, match="exactly one"):
            parse_envelope(raw)
        del raw["data"], raw["dataref"]
        with pytest.raises(ValidationError, match="exactly one"):
            parse_envelope(raw)

    def test_not_an_object(self):
        with pytest.raises(TypeError):
            parse_envelope("[1, 2]")
