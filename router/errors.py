"""The router's small exception vocabulary: a record that can never become an envelope.

A bad environment is ``hubcommon.errors.ConfigurationError``, shared with the consumers.
"""

from __future__ import annotations

from typing import Final

# How much of an attribute name an error quotes: names are schema, not item
# values, but a forged one can be any length.
_NAME_CHARS: Final = 64


def path_step(name: str) -> str:
    """An attribute name as one step of an error's path: short, printable ASCII."""
    if name.isidentifier() and name.isascii() and len(name) <= _NAME_CHARS:
        return name
    return ascii(name[:_NAME_CHARS])


class PoisonRecordError(ValueError):
    """A stream record that can never become an envelope (bad shape, unknown type).

    Permanent: retrying cannot help, so the record goes whole to the router DLQ.
    The message names where (``dynamodb.NewImage.total``), the attribute's type and
    what is wrong, never the value: it is logged and item values may be personal data.
    """

    def __init__(self, problem: str, path: tuple[str, ...] = ()) -> None:
        self.problem = problem
        self.path = path
        super().__init__(f"{_render(path)}: {problem}" if path else problem)

    def within(self, step: str) -> PoisonRecordError:
        """The same problem, one level further out (``step`` is already a path step)."""
        return PoisonRecordError(self.problem, (step, *self.path))


def _render(path: tuple[str, ...]) -> str:
    """``dynamodb.NewImage.lines[2].sku``: list positions attach to the name before them."""
    return "".join(
        step if step.startswith("[") or not i else "." + step for i, step in enumerate(path)
    )
