"""Router configuration: environment variables, validated once at cold start.

Plain checks, no pydantic: the router's runtime path builds no model (the
envelope is written as text), so it need not pay for importing pydantic and
building a model class at every cold start (docs/benchmarks.md, section 3).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, get_args

from hubcommon.limits import (
    S3_BUCKET_NAME_PATTERN,
    SNS_DEFAULT_MAX_MESSAGE_BYTES,
    SNS_MAX_MESSAGE_BYTES_CEILING,
    SNS_MIN_MESSAGE_BYTES,
)
from hubcommon.logs import LogLevel
from router.errors import ConfigurationError

# Whole-value patterns (re.fullmatch: unlike `$`, no trailing newline slips through).
_TOPIC_ARN: Final = re.compile(
    r"arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?"
)
_URL: Final = re.compile(r"https?://\S+")
_BUCKET: Final = re.compile(S3_BUCKET_NAME_PATTERN)
_LOG_LEVELS: Final[tuple[str, ...]] = get_args(LogLevel)
_MAX_PUBLISH_CONCURRENCY: Final = 64


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"is not {what}")
        return value

    return check


def _integer(low: int, high: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return check


def _log_level(value: str) -> str:
    if value.upper() not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return value.upper()


def _text(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the router reads from its environment."""

    topic_arn: str
    dlq_url: str
    payload_bucket: str
    entity_attribute: str | None = None
    partition_key: str | None = None
    max_message_bytes: int = SNS_DEFAULT_MAX_MESSAGE_BYTES
    publish_concurrency: int = 8
    log_level: LogLevel = "INFO"

    @property
    def fifo(self) -> bool:
        """A FIFO topic needs a message group id and deduplication id per message."""
        return self.topic_arn.endswith(".fifo")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; raise ``ConfigurationError`` naming each bad variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, (field, check, required) in _VARIABLES.items():
            raw = env.get(name, "")
            if raw == "":  # unset and empty alike: Lambda cannot unset a template variable
                if required:
                    problems.append(f"{name} is not set")
                continue
            try:
                values[field] = check(raw)
            except ValueError as exc:
                problems.append(f"{name}={raw!r} is invalid: {exc}")
        if problems:
            raise ConfigurationError("router configuration: " + "; ".join(problems))
        return cls(**values)


# Environment variable -> (field, check turning its text into the value, required).
_VARIABLES: Final[dict[str, tuple[str, Callable[[str], Any], bool]]] = {
    "TOPIC_ARN": ("topic_arn", _matching(_TOPIC_ARN, "an SNS topic ARN"), True),
    "ROUTER_DLQ_URL": ("dlq_url", _matching(_URL, "an http(s) URL"), True),
    "PAYLOAD_BUCKET": ("payload_bucket", _matching(_BUCKET, "an S3 bucket name"), True),
    "ENTITY_ATTRIBUTE": ("entity_attribute", _text, False),
    "PARTITION_KEY": ("partition_key", _text, False),
    "MAX_MESSAGE_BYTES": (
        "max_message_bytes",
        _integer(SNS_MIN_MESSAGE_BYTES, SNS_MAX_MESSAGE_BYTES_CEILING),
        False,
    ),
    "PUBLISH_CONCURRENCY": ("publish_concurrency", _integer(1, _MAX_PUBLISH_CONCURRENCY), False),
    "LOG_LEVEL": ("log_level", _log_level, False),
}
