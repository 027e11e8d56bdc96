"""Router configuration: environment variables, validated once at cold start.

Declared with ``hubcommon.settings`` (plain checks, no pydantic): the router's runtime
path builds no model (the envelope is written as text), so it need not pay for
importing pydantic and building a model class at every cold start
(docs/benchmarks.md, section 3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hubcommon.limits import (
    S3_BUCKET_NAME_PATTERN,
    SNS_DEFAULT_MAX_MESSAGE_BYTES,
    SNS_MAX_MESSAGE_BYTES_CEILING,
    SNS_MIN_MESSAGE_BYTES,
)
from hubcommon.logs import LogLevel
from hubcommon.settings import integer, load_settings, log_level_name, matching, variable
from router.contracts import CONTRACT_SCHEMAS, ContractModes, contract_modes

_TOPIC_ARN: Final = r"arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?"
_URL: Final = r"https?://\S+"
_MAX_PUBLISH_CONCURRENCY: Final = 64


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the router reads from its environment."""

    topic_arn: str = variable("TOPIC_ARN", matching(_TOPIC_ARN, "an SNS topic ARN"))
    dlq_url: str = variable("ROUTER_DLQ_URL", matching(_URL, "an http(s) URL"))
    payload_bucket: str = variable(
        "PAYLOAD_BUCKET", matching(S3_BUCKET_NAME_PATTERN, "an S3 bucket name")
    )
    entity_attribute: str | None = variable("ENTITY_ATTRIBUTE", default=None)
    partition_key: str | None = variable("PARTITION_KEY", default=None)
    max_message_bytes: int = variable(
        "MAX_MESSAGE_BYTES",
        integer(SNS_MIN_MESSAGE_BYTES, SNS_MAX_MESSAGE_BYTES_CEILING),
        default=SNS_DEFAULT_MAX_MESSAGE_BYTES,
    )
    publish_concurrency: int = variable(
        "PUBLISH_CONCURRENCY", integer(1, _MAX_PUBLISH_CONCURRENCY), default=8
    )
    log_level: LogLevel = variable("LOG_LEVEL", log_level_name, default="INFO")
    contract_modes: ContractModes = variable(
        "CONTRACT_MODE", contract_modes, default=ContractModes()
    )
    """How items of an entity with a contract are held to it (``router.contracts``)."""
    contract_schemas: str | None = variable(
        CONTRACT_SCHEMAS, matching(r"/\S+", "an absolute folder path"), default=None
    )
    """The folder of entity contract schemas; unset: the ones the artifact ships."""

    @property
    def fifo(self) -> bool:
        """A FIFO topic needs a message group id and deduplication id per message."""
        return self.topic_arn.endswith(".fifo")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; raise ``ConfigurationError`` naming each bad variable."""
        return load_settings(cls, os.environ if environ is None else environ)
