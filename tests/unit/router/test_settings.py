"""Configuration is validated once, with an error that names the variable to fix."""

from __future__ import annotations

import pytest

from hubcommon.errors import ConfigurationError
from router.settings import Settings

GOOD = {
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:fanout-hub",
    "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/router-dlq",
    "PAYLOAD_BUCKET": "fanout-payloads-1",
}


def test_defaults():
    settings = Settings.from_env(GOOD)
    assert settings.max_message_bytes == 262_144
    assert settings.entity_attribute is None
    assert not settings.fifo
    assert settings.contract_modes.of("order") == "observe"


def test_contract_mode_per_entity():
    settings = Settings.from_env({**GOOD, "CONTRACT_MODE": "observe,order=enforce"})
    assert (settings.contract_modes.of("order"), settings.contract_modes.of("user")) == (
        "enforce",
        "observe",
    )


def test_optional_values_are_read():
    settings = Settings.from_env(
        {**GOOD, "ENTITY_ATTRIBUTE": "kind", "MAX_MESSAGE_BYTES": "1048576", "LOG_LEVEL": "debug"}
    )
    assert settings.entity_attribute == "kind"
    assert settings.max_message_bytes == 1_048_576
    assert settings.log_level == "DEBUG"


def test_fifo_topic():
    assert Settings.from_env({**GOOD, "TOPIC_ARN": GOOD["TOPIC_ARN"] + ".fifo"}).fifo


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_missing_variable_is_named(missing):
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigurationError, match=f"{missing} is not set"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOPIC_ARN", "my-topic"),
        ("MAX_MESSAGE_BYTES", "2000000"),
        ("MAX_MESSAGE_BYTES", "lots"),
        ("PAYLOAD_BUCKET", "Not_A_Bucket"),
        ("LOG_LEVEL", "LOUD"),
        ("CONTRACT_MODE", "strict"),
        ("CONTRACT_MODE", "order=strict"),
    ],
)
def test_invalid_variable_is_named_with_its_value(name, value):
    with pytest.raises(ConfigurationError, match=f"{name}='{value}' is invalid"):
        Settings.from_env({**GOOD, name: value})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})
    assert all(name in str(caught.value) for name in GOOD)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:fanout-hub\n"),
        ("ROUTER_DLQ_URL", "ftp://queue"),
        ("PUBLISH_CONCURRENCY", "0"),
        ("PUBLISH_CONCURRENCY", "65"),
        ("MAX_MESSAGE_BYTES", "1023"),
    ],
)
def test_a_value_only_almost_valid_is_refused(name, value):
    with pytest.raises(ConfigurationError, match=f"{name}=.* is invalid"):
        Settings.from_env({**GOOD, name: value})


def test_settings_cannot_change_after_cold_start():
    settings = Settings.from_env(GOOD)
    with pytest.raises(AttributeError):
        settings.topic_arn = "arn:aws:sns:us-east-1:123456789012:other"  # type: ignore[misc]
