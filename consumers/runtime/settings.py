"""Environment variables parsed once, at cold start, into typed settings.

A missing or invalid variable raises ``ConfigurationError`` naming the variable,
so a misconfigured function fails loudly on its first invocation instead of
misbehaving per message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from consumers.runtime.errors import ConfigurationError
from schemas.limits import S3_BUCKET_NAME_PATTERN
from schemas.logs import LogLevel

SettingsT = TypeVar("SettingsT", bound=BaseModel)

# A whole setting must be a bucket name (AWS's naming rules, schemas.limits).
BUCKET_NAME_PATTERN = rf"^{S3_BUCKET_NAME_PATTERN}$"


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Validate ``environ`` (default ``os.environ``) into ``model``, whose field aliases are the variable names.

    Empty values count as unset: CloudFormation renders an omitted optional value as "".
    Raises ``ConfigurationError`` listing every bad variable by name.
    """
    source = os.environ if environ is None else environ
    values = {name: value for name, value in source.items() if value != ""}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or model.__name__}: {issue['msg']}"
            for issue in error.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid environment for {model.__name__}: {problems}") from None


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
