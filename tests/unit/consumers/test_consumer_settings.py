"""Settings are validated at cold start and a bad one is named."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import BaseModel, Field

from consumers.runtime import ConfigurationError, Mode, RuntimeSettings, consumer, load_settings
from hubcommon.settings import boolean, integer, matching, variable

VALID = {
    "CONSUMER_NAME": "billing",
    "IDEMPOTENCY_TABLE": "fanout-hub-idempotency",
    "PAYLOAD_BUCKET": "fanout-hub-payloads",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/billing-dlq",
}


class TestRuntimeSettings:
    """Each variable is checked and named when wrong."""

    def test_a_complete_environment_is_accepted(self):
        settings = load_settings(RuntimeSettings, {**VALID, "LOG_LEVEL": "debug"})

        assert settings.consumer_name == "billing"
        assert settings.log_level == "DEBUG"
        assert settings.allowed_payload_buckets == {"fanout-hub-payloads"}

    @pytest.mark.parametrize("name", ["CONSUMER_NAME", "DLQ_URL"])
    def test_a_missing_variable_is_named(self, name):
        environ = {k: v for k, v in VALID.items() if k != name}

        with pytest.raises(ConfigurationError, match=name):
            load_settings(RuntimeSettings, environ)

    def test_without_a_payload_bucket_no_pointer_is_trusted(self):
        environ = {k: v for k, v in VALID.items() if k != "PAYLOAD_BUCKET"}

        assert load_settings(RuntimeSettings, environ).allowed_payload_buckets == frozenset()

    def test_a_bad_bucket_name_is_named(self):
        with pytest.raises(ConfigurationError, match="PAYLOAD_BUCKET"):
            load_settings(RuntimeSettings, {**VALID, "PAYLOAD_BUCKET": "Not_A_Bucket"})

    def test_an_empty_value_counts_as_missing(self):
        with pytest.raises(ConfigurationError, match="CONSUMER_NAME"):
            load_settings(RuntimeSettings, {**VALID, "CONSUMER_NAME": ""})

    def test_every_problem_is_named_at_once(self):
        with pytest.raises(ConfigurationError) as caught:
            load_settings(RuntimeSettings, {"PAYLOAD_BUCKET": "Not_A_Bucket"})

        assert all(
            name in str(caught.value) for name in ("CONSUMER_NAME", "DLQ_URL", "PAYLOAD_BUCKET")
        )

    def test_a_bad_trusted_bucket_is_named(self):
        with pytest.raises(ConfigurationError, match="TRUSTED_PAYLOAD_BUCKETS"):
            load_settings(RuntimeSettings, {**VALID, "TRUSTED_PAYLOAD_BUCKETS": "good-one,Bad_One"})

    def test_trusted_buckets_are_read_as_a_list(self):
        settings = load_settings(
            RuntimeSettings, {**VALID, "TRUSTED_PAYLOAD_BUCKETS": " a-b-c, ,d-e-f"}
        )

        assert settings.allowed_payload_buckets == {"fanout-hub-payloads", "a-b-c", "d-e-f"}

    def test_a_pydantic_model_written_for_runtime_03_still_loads_with_a_warning(self):
        # GIVEN settings written for runtime 0.2: a pydantic model aliased to the variables
        class OldSettings(BaseModel):
            url: str = Field(alias="PARTNER_URL")
            retries: int = Field(default=3, alias="PARTNER_RETRIES")

        # WHEN the consumer loads them on this runtime
        with pytest.warns(DeprecationWarning, match="hubcommon.settings.variable"):
            settings = load_settings(OldSettings, {**VALID, "PARTNER_URL": "https://a"})
        # THEN they are read as before, and a bad one is still named
        assert (settings.url, settings.retries) == ("https://a", 3)
        with (
            pytest.warns(DeprecationWarning, match="OldSettings"),
            pytest.raises(ConfigurationError, match="PARTNER_RETRIES"),
        ):
            load_settings(OldSettings, {**VALID, "PARTNER_URL": "x", "PARTNER_RETRIES": "many"})

    def test_a_model_that_is_not_declared_with_variables_is_refused(self):
        class Loose:
            url: str

        with pytest.raises(TypeError, match="not a dataclass"):
            load_settings(Loose, VALID)

    def test_a_bad_log_level_is_named(self):
        with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
            load_settings(RuntimeSettings, {**VALID, "LOG_LEVEL": "LOUD"})

    def test_the_idempotency_table_is_required_only_when_used(self, monkeypatch):
        environ = {k: v for k, v in VALID.items() if k != "IDEMPOTENCY_TABLE"}
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)

        for mode in (Mode.STATE, Mode.NATURALLY_IDEMPOTENT):
            assert consumer(mode=mode)(lambda event: None).build() is not None
        with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE"):
            consumer()(lambda event: None).build()
        with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE"):
            consumer(mode=Mode.SIDE_EFFECT)(lambda event: None).build()


@dataclass(frozen=True, slots=True)
class PartnerSettings:
    """A consumer's own settings, as a team outside this repository would write them."""

    url: str = variable("PARTNER_URL", matching(r"https://\S+", "an https URL"))
    retries: int = variable("PARTNER_RETRIES", integer(0, 10), default=3)
    dry_run: bool = variable("PARTNER_DRY_RUN", boolean, default=False)


class TestConsumerConfig:
    """The kit's ConsumerConfig (CONSUMER_CONFIG) carries a consumer's own settings as one JSON object."""

    def test_its_members_read_as_variables(self):
        # GIVEN the kit's ConsumerConfig with a string, a number and a boolean
        config = '{"PARTNER_URL": "https://partner.example/hook", "PARTNER_RETRIES": 5, "PARTNER_DRY_RUN": true}'
        # WHEN the consumer loads its own settings
        settings = load_settings(PartnerSettings, {**VALID, "CONSUMER_CONFIG": config})
        # THEN each member is read as the variable of that name, typed by the model
        assert (settings.url, settings.retries, settings.dry_run) == (
            "https://partner.example/hook",
            5,
            True,
        )

    def test_a_bad_member_is_named_like_a_bad_variable(self):
        # GIVEN a member the settings refuse
        config = '{"PARTNER_URL": "https://partner.example/hook", "PARTNER_RETRIES": 50}'
        # WHEN the consumer loads its own settings
        with pytest.raises(ConfigurationError, match="PARTNER_RETRIES='50' is invalid") as caught:
            load_settings(PartnerSettings, {**VALID, "CONSUMER_CONFIG": config})
        # THEN the error says what is wrong and names no other variable
        assert "between 0 and 10" in str(caught.value)
        assert "PARTNER_URL" not in str(caught.value)

    def test_a_variable_of_the_same_name_wins(self):
        environ = {
            **VALID,
            "CONSUMER_CONFIG": '{"PARTNER_URL": "https://a"}',
            "PARTNER_URL": "https://b",
        }
        assert load_settings(PartnerSettings, environ).url == "https://b"

    def test_an_empty_variable_does_not_hide_a_member(self):
        # CloudFormation renders an omitted optional variable as "".
        environ = {**VALID, "CONSUMER_CONFIG": '{"PARTNER_URL": "https://a"}', "PARTNER_URL": ""}
        assert load_settings(PartnerSettings, environ).url == "https://a"

    @pytest.mark.parametrize(
        ("config", "problem"),
        [
            ("{not json", "not JSON"),
            ('["PARTNER_URL"]', "must be a JSON object"),
            ('{"PARTNER_URL": {"nested": 1}}', "PARTNER_URL must be a string, number or boolean"),
            ('{"PARTNER_URL": null}', "PARTNER_URL must be a string, number or boolean"),
            ('{"DLQ_URL": "https://elsewhere"}', "DLQ_URL is set by the kit"),
            ('{"AWS_REGION": "eu-west-1"}', "AWS_REGION is set by the kit"),
        ],
    )
    def test_a_malformed_config_is_named_at_cold_start(self, config, problem):
        with pytest.raises(ConfigurationError, match=f"CONSUMER_CONFIG: {problem}"):
            load_settings(RuntimeSettings, {**VALID, "CONSUMER_CONFIG": config})

    def test_an_empty_config_is_no_config(self):
        assert (
            load_settings(RuntimeSettings, {**VALID, "CONSUMER_CONFIG": " "}).consumer_name
            == "billing"
        )


class TestOptionsOfRuntime02:
    """A handler written for runtime 0.2 keeps its guarantees on a newer runtime layer."""

    @pytest.mark.parametrize(
        ("idempotent", "mode"),
        [(True, Mode.SIDE_EFFECT), (False, Mode.NATURALLY_IDEMPOTENT)],
    )
    def test_idempotent_still_works_and_names_its_mode(self, idempotent, mode):
        with pytest.warns(DeprecationWarning, match=f"Mode.{mode.name}"):
            handler = consumer(idempotent=idempotent)(lambda event: None)

        assert handler.mode is mode

    def test_skip_stale_keeps_its_meaning(self):
        handler = consumer(skip_stale=True)(lambda event: None)

        assert (handler.mode, handler.skip_stale) == (Mode.SIDE_EFFECT, True)

    def test_mode_and_idempotent_together_are_refused(self):
        with pytest.raises(TypeError, match="not both"):
            consumer(mode=Mode.STATE, idempotent=True)

    def test_a_state_consumer_refuses_the_sequence_guard(self):
        with pytest.raises(TypeError, match="apply_if_newer"):
            consumer(mode=Mode.STATE, skip_stale=True)

    def test_only_a_side_effect_consumer_can_leave_claims_to_the_function(self):
        with pytest.raises(TypeError, match=r"claim_events=False is for Mode\.SIDE_EFFECT"):
            consumer(mode=Mode.NATURALLY_IDEMPOTENT, claim_events=False)


class TestModeMistakes:
    """A mistaken mode or a deprecated switch says what to write instead."""

    def test_an_unknown_mode_lists_the_modes(self):
        with pytest.raises(ValueError, match=r"Mode\.STATE \('state'\).*Mode\.SIDE_EFFECT"):
            consumer(mode="STATE")  # type: ignore[arg-type]

    def test_a_deprecated_switch_is_logged_at_cold_start(self, monkeypatch, capsys):
        for name, value in VALID.items():
            monkeypatch.setenv(name, value)
        with pytest.warns(DeprecationWarning, match="deprecated since runtime 0.3.0"):
            handler = consumer(idempotent=False)(lambda event: None)
        capsys.readouterr()

        handler.build()  # configures the function's JSON logging, as a cold start does

        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        [line] = [e for e in lines if e.get("event") == "consumer_option_deprecated"]
        assert "mode=Mode.NATURALLY_IDEMPOTENT" in line["detail"]
