"""Settings from environment variables: the one pattern of every deployed function.

A function's settings are a frozen dataclass whose fields each name the variable they
are read from and the check that turns its text into the value::

    @dataclass(frozen=True, slots=True)
    class PartnerSettings:
        url: str = variable("PARTNER_URL", matching(r"https://\\S+", "an https URL"))
        retries: int = variable("PARTNER_RETRIES", integer(0, 10), default=3)

    settings = load_settings(PartnerSettings, os.environ)

``load_settings`` reads every field once, at cold start, and raises one
``ConfigurationError`` naming every missing or invalid variable (never a value it
accepted). Standard library only: the router reads its settings this way on every
cold start without importing pydantic (docs/benchmarks.md, section 3), and the
consumers use the same pattern so that there is one way to declare a setting.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, get_args

from hubcommon.errors import ConfigurationError
from hubcommon.logs import LogLevel

T = TypeVar("T")
N = TypeVar("N", int, float)

_VARIABLE: Final = "variable"
_CHECK: Final = "check"
_SHOWN: Final = "shown"


def text(value: str) -> str:
    """Any text, as it is."""
    return value


def matching(pattern: str | re.Pattern[str], what: str) -> Callable[[str], str]:
    """Text the whole of which matches ``pattern`` (``re.fullmatch``: no trailing newline slips through)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"is not {what}")
        return value

    return check


def length(low: int, high: int) -> Callable[[str], str]:
    """Text of ``low`` to ``high`` characters."""

    def check(value: str) -> str:
        if not low <= len(value) <= high:
            raise ValueError(f"must be {low} to {high} characters long")
        return value

    return check


def _number(
    parse: Callable[[str], N], what: str, fits: Callable[[N], bool], bounds: str
) -> Callable[[str], N]:
    def check(value: str) -> N:
        try:
            number = parse(value)
        except ValueError:
            raise ValueError(f"is not {what}") from None
        if not fits(number):
            raise ValueError(bounds)
        return number

    return check


def integer(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""
    return _number(
        int, "a whole number", lambda n: low <= n <= high, f"must be between {low} and {high}"
    )


def seconds(above: float, at_most: float) -> Callable[[str], float]:
    """A number of seconds greater than ``above`` and at most ``at_most`` (NaN fails both)."""
    return _number(
        float,
        "a number",
        lambda n: above < n <= at_most,
        f"must be over {above:g} and at most {at_most:g}",
    )


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def boolean(value: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``), any case."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("is not true or false")


_LOG_LEVELS: Final[tuple[str, ...]] = get_args(LogLevel)


def log_level_name(value: str) -> LogLevel:
    """One of ``logging``'s level names, any case."""
    upper = value.upper()
    for level in _LOG_LEVELS:
        if upper == level:
            return level  # type: ignore[return-value]  # one of LogLevel's own members
    raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")


def comma_list(item: Callable[[str], T], *, at_least: int = 0) -> Callable[[str], tuple[T, ...]]:
    """Comma-separated items (blank ones dropped), each through ``item``; at least ``at_least``."""

    def check(value: str) -> tuple[T, ...]:
        items = tuple(item(part.strip()) for part in value.split(",") if part.strip())
        if len(items) < at_least:
            raise ValueError(f"must list at least {at_least}, comma-separated")
        return items

    return check


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()
"""The default of a variable that must be set."""


def variable(
    name: str, check: Callable[[str], Any] = text, *, default: Any = REQUIRED, shown: bool = True
) -> Any:
    """A settings field read from the environment variable ``name`` through ``check``.

    Without a ``default`` the variable must be set. ``shown=False`` keeps a refused value
    out of the error (and so out of the logs). Typed ``Any`` as ``dataclasses.field`` is,
    so a field keeps its own annotation.
    """
    metadata = {_VARIABLE: name, _CHECK: check, _SHOWN: shown}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def variables(settings: type[object]) -> dict[str, str]:
    """Each variable ``settings`` reads, by the field it fills."""
    return {
        field.name: field.metadata[_VARIABLE]
        for field in dataclasses.fields(settings)  # type: ignore[arg-type]
        if _VARIABLE in field.metadata
    }


def load_settings(settings: type[T], environ: Mapping[str, str]) -> T:
    """Read and check every ``variable`` field of the dataclass ``settings`` from ``environ``.

    An empty value counts as unset: CloudFormation renders an omitted optional value as
    "" and Lambda cannot unset a variable the template names. Raises
    ``ConfigurationError`` listing every missing or invalid variable by name, with the
    text it refused and why.
    """
    if not dataclasses.is_dataclass(settings):
        raise TypeError(
            f"{settings.__name__} is not a dataclass: declare settings as a frozen dataclass"
            " of variable(...) fields (hubcommon.settings)"
        )
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(settings):
        if _VARIABLE not in field.metadata:
            continue
        name: str = field.metadata[_VARIABLE]
        raw = environ.get(name, "")
        if raw == "":
            if field.default is dataclasses.MISSING:
                problems.append(f"{name} is not set")
            continue
        try:
            values[field.name] = field.metadata[_CHECK](raw)
        except ValueError as exc:
            refused = f"{name}={raw!r}" if field.metadata[_SHOWN] else name
            problems.append(f"{refused} is invalid: {exc}")
    if problems:
        raise ConfigurationError(f"{settings.__name__}: " + "; ".join(problems))
    return settings(**values)
