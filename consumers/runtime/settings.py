"""Environment variables parsed once, at cold start, into typed settings.

A missing or invalid variable raises ``ConfigurationError`` naming the variable,
so a misconfigured function fails loudly on its first invocation instead of
misbehaving per message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from consumers.runtime.errors import ConfigurationError
from hubcommon.limits import S3_BUCKET_NAME_PATTERN
from hubcommon.logs import LogLevel

SettingsT = TypeVar("SettingsT", bound=BaseModel)

# A whole setting must be a bucket name (AWS's naming rules, hubcommon.limits).
BUCKET_NAME_PATTERN = rf"^{S3_BUCKET_NAME_PATTERN}$"


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Validate ``environ`` (default ``os.environ``) into ``model``, whose field aliases are the variable names.

    Empty values count as unset: CloudFormation renders an omitted optional value as "".
    Members of ``CONSUMER_CONFIG`` count as variables too (a set variable wins).
    Raises ``ConfigurationError`` listing every bad variable by name.
    """
    values = settings_environment(os.environ if environ is None else environ)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or model.__name__}: {issue['msg']}"
            for issue in error.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid environment for {model.__name__}: {problems}") from None


CONSUMER_CONFIG = "CONSUMER_CONFIG"
"""A JSON object of a consumer's own settings: the kit's ``ConsumerConfig`` parameter.

A CloudFormation parameter cannot carry a map of environment variables, so a consumer's own
settings (``AUDIT_BUCKET``, a partner's URL, ...) travel as one JSON object. Each member is
read as if it were an environment variable of that name; a real variable of the same name wins.
"""

RESERVED_SETTINGS = frozenset(
    {"CONSUMER_NAME", "IDEMPOTENCY_TABLE", "PAYLOAD_BUCKET", "DLQ_URL", "LOG_LEVEL"}
)
"""Variables the kit sets itself: ``CONSUMER_CONFIG`` may not name them (nor ``AWS_*``, Lambda's own)."""


def consumer_config(environ: Mapping[str, str]) -> dict[str, str]:
    """The members of ``CONSUMER_CONFIG`` as settings; ``ConfigurationError`` when it is malformed.

    Values must be strings, numbers or booleans (read as their JSON text, ``true``/``false``);
    a name the kit owns is refused rather than silently shadowed.
    """
    text = environ.get(CONSUMER_CONFIG, "")
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"{CONSUMER_CONFIG}: not JSON (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{CONSUMER_CONFIG}: must be a JSON object of settings")
    settings: dict[str, str] = {}
    for name, value in document.items():
        if name in RESERVED_SETTINGS or name.startswith("AWS_"):
            raise ConfigurationError(f"{CONSUMER_CONFIG}: {name} is set by the kit, not here")
        if isinstance(value, bool):
            settings[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            settings[name] = str(value)
        else:
            raise ConfigurationError(
                f"{CONSUMER_CONFIG}: {name} must be a string, number or boolean"
            )
    return settings


def settings_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a function's settings read: ``CONSUMER_CONFIG``'s members, then the
    environment over them, empty values dropped (CloudFormation renders an omitted optional
    value as "")."""
    values = consumer_config(environ)
    values.update((name, value) for name, value in environ.items() if value != "")
    return {name: value for name, value in values.items() if value != ""}


def split_list(value: object) -> object:
    """A comma-separated environment value as a list of non-empty, stripped items."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class RuntimeSettings(BaseModel):
    """What every consumer function reads from its environment."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    consumer_name: str = Field(
        alias="CONSUMER_NAME",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
        description="Names the consumer in idempotency keys, logs and metrics.",
    )
    idempotency_table: str | None = Field(
        default=None,
        alias="IDEMPOTENCY_TABLE",
        description="DynamoDB table for idempotency records and sequence marks.",
    )
    payload_bucket: str | None = Field(
        default=None,
        alias="PAYLOAD_BUCKET",
        pattern=BUCKET_NAME_PATTERN,
        description="The hub's claim-check bucket; unset, every claim-check pointer is refused.",
    )
    trusted_payload_buckets: tuple[str, ...] = Field(
        default=(),
        alias="TRUSTED_PAYLOAD_BUCKETS",
        description="Extra buckets (comma-separated) other producers' extended-client pointers may use.",
    )
    dlq_url: str = Field(
        alias="DLQ_URL",
        pattern=r"^https?://\S+$",
        description="The consumer's own dead-letter queue, for messages that can never succeed.",
    )
    log_level: LogLevel = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_payload_buckets", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_list(value)

    @property
    def allowed_payload_buckets(self) -> frozenset[str]:
        """Every bucket a claim-check pointer may name."""
        own = (self.payload_bucket,) if self.payload_bucket else ()
        return frozenset((*own, *self.trusted_payload_buckets))

    def require_table(self, why: str) -> str:
        """The idempotency table, or ``ConfigurationError`` naming IDEMPOTENCY_TABLE."""
        if not self.idempotency_table:
            raise ConfigurationError(f"IDEMPOTENCY_TABLE: required because {why}")
        return self.idempotency_table
