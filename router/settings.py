"""Router configuration: environment variables, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.errors import ConfigurationError
from schemas.limits import (
    S3_BUCKET_NAME_PATTERN,
    SNS_DEFAULT_MAX_MESSAGE_BYTES,
    SNS_MAX_MESSAGE_BYTES_CEILING,
    SNS_MIN_MESSAGE_BYTES,
)
from schemas.logs import LogLevel


class Settings(BaseModel):
    """Everything the router reads from its environment.

    Field aliases are the environment variable names, so a validation error
    names exactly the variable to fix.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    topic_arn: Annotated[
        str,
        Field(
            alias="TOPIC_ARN",
            pattern=r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?$",
        ),
    ]
    dlq_url: Annotated[str, Field(alias="ROUTER_DLQ_URL", pattern=r"^https?://\S+$")]
    payload_bucket: Annotated[
        str, Field(alias="PAYLOAD_BUCKET", pattern=rf"^{S3_BUCKET_NAME_PATTERN}$")
    ]
    entity_attribute: Annotated[str | None, Field(alias="ENTITY_ATTRIBUTE", min_length=1)] = None
    partition_key: Annotated[str | None, Field(alias="PARTITION_KEY", min_length=1)] = None
    max_message_bytes: Annotated[
        int,
        Field(
            alias="MAX_MESSAGE_BYTES", ge=SNS_MIN_MESSAGE_BYTES, le=SNS_MAX_MESSAGE_BYTES_CEILING
        ),
    ] = SNS_DEFAULT_MAX_MESSAGE_BYTES
    publish_concurrency: Annotated[int, Field(alias="PUBLISH_CONCURRENCY", ge=1, le=64)] = 8
    log_level: Annotated[LogLevel, Field(alias="LOG_LEVEL")] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def fifo(self) -> bool:
        """A FIFO topic needs a message group id and deduplication id per message."""
        return self.topic_arn.endswith(".fifo")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; raise ``ConfigurationError`` naming each bad variable."""
        env = os.environ if environ is None else environ
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        values = {name: env[name] for name in names if env.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "?"
                if error["type"] == "missing":
                    problems.append(f"{name} is not set")
                else:
                    problems.append(f"{name}={values.get(name, '')!r} is invalid: {error['msg']}")
            raise ConfigurationError("router configuration: " + "; ".join(problems)) from None
