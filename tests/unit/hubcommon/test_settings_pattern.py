"""The one settings pattern: a dataclass of variables, read once, every bad one named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hubcommon.errors import ConfigurationError
from hubcommon.settings import (
    boolean,
    comma_list,
    integer,
    length,
    load_settings,
    log_level_name,
    seconds,
    text,
    variable,
    variables,
)


@dataclass(frozen=True, slots=True)
class Example:
    """Settings as a function declares them."""

    name: str = variable("EXAMPLE_NAME", length(3, 8))
    token: str = variable("EXAMPLE_TOKEN", length(20, 64), shown=False)
    hosts: tuple[str, ...] = variable("EXAMPLE_HOSTS", comma_list(text, at_least=1), default=())
    timeout: float = variable("EXAMPLE_TIMEOUT", seconds(0, 60), default=5.0)
    dry_run: bool = variable("EXAMPLE_DRY_RUN", boolean, default=False)
    level: str = variable("EXAMPLE_LEVEL", log_level_name, default="INFO")
    count: int = variable("EXAMPLE_COUNT", integer(1, 3), default=1)


GOOD = {"EXAMPLE_NAME": "orders", "EXAMPLE_TOKEN": "t" * 24}


class TestReading:
    """Each field is read from its own variable, through its own check."""

    def test_defaults_fill_what_is_unset(self):
        settings = load_settings(Example, GOOD)

        assert settings == Example(name="orders", token="t" * 24)

    def test_every_value_is_read_and_typed(self):
        settings = load_settings(
            Example,
            {
                **GOOD,
                "EXAMPLE_HOSTS": "a, b,,",
                "EXAMPLE_TIMEOUT": "0.5",
                "EXAMPLE_DRY_RUN": "TRUE",
                "EXAMPLE_LEVEL": "warning",
                "EXAMPLE_COUNT": "3",
            },
        )

        assert (settings.hosts, settings.timeout, settings.dry_run) == (("a", "b"), 0.5, True)
        assert (settings.level, settings.count) == ("WARNING", 3)

    def test_an_empty_value_counts_as_unset(self):
        assert load_settings(Example, {**GOOD, "EXAMPLE_TIMEOUT": ""}).timeout == 5.0

    def test_the_variables_are_listed_by_field(self):
        assert variables(Example)["token"] == "EXAMPLE_TOKEN"


class TestRefusing:
    """A bad environment fails at once, naming every variable to fix."""

    @pytest.mark.parametrize(
        ("name", "value", "why"),
        [
            ("EXAMPLE_NAME", "ab", "3 to 8 characters"),
            ("EXAMPLE_HOSTS", " , ", "at least 1"),
            ("EXAMPLE_TIMEOUT", "0", "over 0"),
            ("EXAMPLE_TIMEOUT", "nan", "over 0"),
            ("EXAMPLE_TIMEOUT", "soon", "not a number"),
            ("EXAMPLE_DRY_RUN", "maybe", "not true or false"),
            ("EXAMPLE_LEVEL", "LOUD", "must be one of"),
            ("EXAMPLE_COUNT", "4", "between 1 and 3"),
        ],
    )
    def test_a_bad_value_is_named_with_what_is_wrong(self, name, value, why):
        with pytest.raises(ConfigurationError, match=f"{name}='{value}' is invalid: .*{why}"):
            load_settings(Example, {**GOOD, name: value})

    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(ConfigurationError) as caught:
            load_settings(Example, {"EXAMPLE_COUNT": "9"})

        message = str(caught.value)
        assert "EXAMPLE_NAME is not set" in message
        assert "EXAMPLE_TOKEN is not set" in message
        assert "EXAMPLE_COUNT='9' is invalid" in message

    def test_a_value_not_shown_stays_out_of_the_error(self):
        with pytest.raises(ConfigurationError, match="EXAMPLE_TOKEN is invalid") as caught:
            load_settings(Example, {**GOOD, "EXAMPLE_TOKEN": "short-secret"})

        assert "short-secret" not in str(caught.value)

    def test_settings_cannot_change_after_cold_start(self):
        settings = load_settings(Example, GOOD)

        with pytest.raises(AttributeError):
            settings.name = "other"  # type: ignore[misc]
