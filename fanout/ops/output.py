"""What the operations commands print: rich tables and progress on a terminal, plain text
otherwise, and one JSON document with ``--json`` (for scripts).

The commands build plain data (lists of dicts) and hand it to an ``Output``; they never
format text themselves, so the JSON and the table always say the same thing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """Advance a progress display by ``amount`` units of work."""

    def advance(self, amount: int = 1) -> None: ...


class _NoProgress:
    def advance(self, amount: int = 1) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def to_json(document: Any) -> str:
    """JSON text for ``--json`` output (datetimes ISO 8601, Decimals as numbers)."""
    return json.dumps(document, indent=2, default=_default, ensure_ascii=False)


def iso(epoch_seconds: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC (None stays None)."""
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds")


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; None -> an em dash (not available)."""
    if seconds is None:
        return "\u2014"
    whole = int(seconds)
    if whole < 60:  # noqa: PLR2004 - one minute
        return f"{whole}s"
    if whole < 3600:  # noqa: PLR2004 - one hour
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


@dataclass
class Output:
    """Where a command's results go: ``json_mode`` prints one JSON document at the end."""

    json_mode: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    rich: bool | None = None
    """None: rich tables and progress only when ``out`` is a terminal."""

    def __post_init__(self) -> None:
        if self.rich is None:
            self.rich = not self.json_mode and self.out.isatty()

    # ------------------------------------------------------------------ text
    def note(self, text: str) -> None:
        """A line for people (stderr in JSON mode, so stdout stays parseable)."""
        print(text, file=self.err if self.json_mode else self.out, flush=True)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        """A table of ``rows`` (dicts keyed by column); nothing in JSON mode."""
        if self.json_mode:
            return
        cells = [[_cell(row.get(column)) for column in columns] for row in rows]
        if self.rich:
            from rich.console import Console  # noqa: PLC0415 - only on a terminal
            from rich.table import Table  # noqa: PLC0415 - same

            table = Table(title=title, title_justify="left")
            for column in columns:
                table.add_column(column)
            for row in cells:
                table.add_row(*row)
            Console(file=self.out).print(table)
            return
        widths = [
            max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)
        ]
        print(title, file=self.out)
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=self.out)
        for row in cells:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=self.out)
        if not cells:
            print("(none)", file=self.out)
        print(file=self.out, flush=True)

    def document(self, document: Any) -> None:
        """The JSON document of the command (only in JSON mode)."""
        if self.json_mode:
            print(to_json(document), file=self.out, flush=True)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Progress]:
        """A progress bar on a terminal; silent otherwise (plain output stays line-oriented)."""
        if not self.rich:
            yield NO_PROGRESS
            return
        from rich.progress import (  # noqa: PLC0415 - only on a terminal
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress  # noqa: PLC0415 - same

        with RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield _RichTask(bar, task)


@dataclass
class _RichTask:
    bar: Any
    task: Any

    def advance(self, amount: int = 1) -> None:
        self.bar.advance(self.task, amount)


def _cell(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)
