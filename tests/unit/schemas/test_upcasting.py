"""Every reader upcasts older envelopes the same way, through ``parse_envelope``."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import a_stream_record

from router.normalise import EntityRules, to_outbound
from schemas import (
    UPCASTERS,
    UnsupportedVersionError,
    UpcastError,
    Upcasters,
    codec,
    parse_envelope,
)


def current_raw() -> dict[str, Any]:
    """Today's envelope, as a raw JSON object, made by the real router."""
    raw: dict[str, Any] = codec.loads(to_outbound(a_stream_record(), EntityRules()).body)
    return raw


def a_v0(raw: dict[str, Any]) -> dict[str, Any]:
    """A pre-release shape: "seq" instead of "sequence", no dataschema."""
    old = {k: v for k, v in raw.items() if k not in ("sequence", "dataschema")}
    return {**old, "schemaversion": "0", "seq": raw["sequence"]}


def v0_to_v1(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if k != "seq"}
    return {
        **out,
        "schemaversion": "1",
        "sequence": raw["seq"],
        "dataschema": "urn:fanout-hub:schema:envelope:1",
    }


class TestRegistry:
    """Steps chain from the version they read to the newest."""

    def test_the_current_version_passes_through_untouched(self):
        upcasters = Upcasters()
        raw = current_raw()

        assert upcasters.to_latest(dict(raw)) == raw

    def test_an_older_version_is_brought_to_the_newest(self):
        upcasters = Upcasters()
        upcasters.register("0", "1")(v0_to_v1)
        raw = current_raw()

        assert upcasters.to_latest(a_v0(raw)) == raw

    def test_an_unknown_version_is_left_for_parse_envelope_to_refuse(self):
        raw = {**current_raw(), "schemaversion": "99"}

        assert Upcasters().to_latest(dict(raw)) == raw

    def test_a_step_must_change_the_version_and_register_once(self):
        upcasters = Upcasters()
        with pytest.raises(ValueError, match="must change the version"):
            upcasters.register("1", "1")
        upcasters.register("0", "1")(v0_to_v1)
        with pytest.raises(ValueError, match="already registered"):
            upcasters.register("0", "1")(v0_to_v1)

    def test_a_step_yielding_the_wrong_version_is_an_upcast_error(self):
        upcasters = Upcasters()
        upcasters.register("0", "1")(lambda raw: {**raw, "schemaversion": "7"})

        with pytest.raises(UpcastError, match="0->1 produced version '7'"):
            upcasters.to_latest(a_v0(current_raw()))

    def test_steps_that_loop_are_an_upcast_error(self):
        upcasters = Upcasters(latest="9")
        upcasters.register("0", "2")(lambda raw: {**raw, "schemaversion": "2"})
        upcasters.register("2", "0")(lambda raw: {**raw, "schemaversion": "0"})

        with pytest.raises(UpcastError, match="loop at version '0'"):
            upcasters.to_latest(a_v0(current_raw()))

    def test_the_shared_registry_holds_no_step_while_only_version_1_is_published(self):
        raw = current_raw()

        assert UPCASTERS.to_latest(dict(raw)) == raw


class TestParseEnvelopeUpcasts:
    """``parse_envelope`` runs the upcasters before validating."""

    def test_an_older_envelope_parses_as_the_newest(self):
        upcasters = Upcasters()
        upcasters.register("0", "1")(v0_to_v1)
        raw = current_raw()

        envelope = parse_envelope(codec.dumps(a_v0(raw)), upcasters)

        assert envelope.schemaversion == "1"
        assert envelope.sequence == raw["sequence"]
        assert envelope == parse_envelope(raw)

    def test_without_a_step_an_older_envelope_is_unsupported(self):
        with pytest.raises(UnsupportedVersionError, match="'0' is not supported"):
            parse_envelope(a_v0(current_raw()))
