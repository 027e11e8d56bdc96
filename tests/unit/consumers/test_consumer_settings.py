"""Settings are validated at cold start and a bad one is named."""

from __future__ import annotations

import pytest

from consumers.runtime import ConfigurationError, RuntimeSettings, consumer, load_settings

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

    def test_a_bad_log_level_is_named(self):
        with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
            load_settings(RuntimeSettings, {**VALID, "LOG_LEVEL": "LOUD"})

    def test_the_idempotency_table_is_required_only_when_used(self, monkeypatch):
        environ = {k: v for k, v in VALID.items() if k != "IDEMPOTENCY_TABLE"}
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)

        assert consumer(idempotent=False)(lambda event: None).build() is not None
        with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE"):
            consumer()(lambda event: None).build()
        with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE"):
            consumer(idempotent=False, skip_stale=True)(lambda event: None).build()
