"""Environment variables parsed once, at cold start, into typed settings.

Settings are declared as the router declares its own (``hubcommon.settings``: a frozen
dataclass of ``variable(...)`` fields); ``load_settings`` adds the kit's
``CONSUMER_CONFIG``. A missing or invalid variable raises ``ConfigurationError`` naming
the variable, so a misconfigured function fails loudly on its first invocation instead
of misbehaving per message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from hubcommon import settings as declared
from hubcommon.errors import ConfigurationError
from hubcommon.limits import S3_BUCKET_NAME_PATTERN
from hubcommon.logs import LogLevel
from hubcommon.settings import comma_list, log_level_name, matching, variable

SettingsT = TypeVar("SettingsT")

bucket_name = matching(S3_BUCKET_NAME_PATTERN, "an S3 bucket name")
"""The check of a setting that names a bucket (AWS's naming rules, hubcommon.limits)."""


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Read ``model``, a dataclass of ``hubcommon.settings.variable`` fields, from ``environ`` (default ``os.environ``).

    Empty values count as unset: CloudFormation renders an omitted optional value as "".
    Members of ``CONSUMER_CONFIG`` count as variables too (a set variable wins).
    Raises ``ConfigurationError`` listing every bad variable by name.

    A pydantic model whose field aliases are the variable names (runtime 0.2's way) is
    still read, with a ``DeprecationWarning``: a team's function keeps working when a
    redeploy picks up a newer runtime layer.
    """
    values = settings_environment(os.environ if environ is None else environ)
    if not dataclasses.is_dataclass(model) and hasattr(model, "model_validate"):
        warnings.warn(
            f"{model.__name__} is a pydantic model: declare settings as a frozen dataclass of"
            " hubcommon.settings.variable(...) fields (docs/writing-a-consumer.md)",
            DeprecationWarning,
            stacklevel=2,
        )
        return cast("SettingsT", _load_pydantic(model, values))
    return declared.load_settings(model, values)


def _load_pydantic(model: Any, values: dict[str, str]) -> Any:
    """Runtime 0.2's settings: a pydantic model validated from the variables."""
    from pydantic import ValidationError  # noqa: PLC0415 - only for models written for 0.2

    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or model.__name__}: {issue['msg']}"
            for issue in error.errors(include_url=False)
        )
        raise ConfigurationError(f"{model.__name__}: {problems}") from None


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


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """What every consumer function reads from its environment."""

    consumer_name: str = variable(
        "CONSUMER_NAME",
        matching(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", "1-64 letters, digits, '_', '.' or '-'"),
    )
    """Names the consumer in idempotency keys, logs and metrics."""
    dlq_url: str = variable("DLQ_URL", matching(r"https?://\S+", "an http(s) URL"))
    """The consumer's own dead-letter queue, for messages that can never succeed."""
    idempotency_table: str | None = variable("IDEMPOTENCY_TABLE", default=None)
    """DynamoDB table for idempotency records and sequence marks."""
    payload_bucket: str | None = variable("PAYLOAD_BUCKET", bucket_name, default=None)
    """The hub's claim-check bucket; unset, every claim-check pointer is refused."""
    trusted_payload_buckets: tuple[str, ...] = variable(
        "TRUSTED_PAYLOAD_BUCKETS", comma_list(bucket_name), default=()
    )
    """Extra buckets (comma-separated) other producers' extended-client pointers may use."""
    log_level: LogLevel = variable("LOG_LEVEL", log_level_name, default="INFO")

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
