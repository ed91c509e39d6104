"""What a verb prints, in rabbitmqctl's shapes: banners, then a table, lines or a document.

On a pipe the table formatter prints tab-separated rows under a header row, byte for byte as
rabbitmqctl; at a terminal the same table is drawn by rich. `-q` drops the banners, `-s` the
banners and the header row; the json formatter prints no banner and the rows as one JSON array
of objects, one per line (as rabbitmqctl does).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Mapping, Sequence, TextIO

from amqpd.ctl import terms


class Formatter(Enum):
    TABLE = "table"
    PRETTY_TABLE = "pretty_table"  # rich, even on a pipe
    JSON = "json"
    CSV = "csv"

    @property
    def machine(self) -> bool:
        return self in (Formatter.JSON, Formatter.CSV)


Render = Callable[[Any], str]


@dataclass(frozen=True)
class Column:
    """One column a list verb can print: its name, where its value is in an API item (the key
    of the same name unless `get` says otherwise), and how a value is written in a table."""

    name: str
    get: Callable[[Mapping[str, Any]], Any] | None = None
    render: Render = terms.cell

    def value(self, item: Mapping[str, Any]) -> Any:
        return self.get(item) if self.get is not None else item.get(self.name)

    def text(self, item: Mapping[str, Any]) -> str:
        return self.render(self.value(item))


@dataclass(frozen=True)
class Table:
    """API items shown as `columns`; `blank` prints an empty line for no rows, as rabbitmqctl's
    non-streaming list verbs do (list_permissions, list_policies...)."""

    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    blank: bool = False


class Output:
    def __init__(self, formatter: Formatter, quiet: bool = False, silent: bool = False,
                 headers: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.formatter = formatter
        self.quiet = quiet or silent or formatter.machine
        self.headers = headers and not silent
        self.pretty = formatter is Formatter.PRETTY_TABLE or (formatter is Formatter.TABLE and self.stream.isatty())

    def banner(self, text: str) -> None:
        """An informational line before the result (`Listing queues for vhost / ...`)."""
        if not self.quiet:
            self.line(text)

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")

    def table(self, table: Table) -> None:
        if self.formatter is Formatter.JSON:
            self.json_rows([{c.name: c.value(row) for c in table.columns} for row in table.rows])
        elif self.formatter is Formatter.CSV:
            self._csv(table)
        elif self.pretty:
            self._rich(table)
        else:
            if self.headers and table.rows:
                self.line("\t".join(c.name for c in table.columns))
            for row in table.rows:
                self.line("\t".join(c.text(row) for c in table.columns))
            if table.blank and not table.rows:
                self.line("")

    def json_rows(self, rows: Sequence[Any]) -> None:
        """rabbitmqctl's JSON for a list: `[`, one compact object per line (the comma leading
        the next one), `]`."""
        self.line("[")
        if rows:
            self.line("\n,".join(_compact(row) for row in rows))
        self.line("]")

    def document(self, value: Any) -> None:
        """A JSON document (definitions, status) printed whole."""
        self.line(_compact(value))

    def _csv(self, table: Table) -> None:
        import csv
        writer = csv.writer(self.stream, lineterminator="\n")
        if self.headers:
            writer.writerow([c.name for c in table.columns])
        for row in table.rows:
            writer.writerow([c.text(row) for c in table.columns])

    def _rich(self, table: Table) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable
        drawn = RichTable(show_header=self.headers)
        for column in table.columns:
            drawn.add_column(column.name, overflow="fold")
        for row in table.rows:
            drawn.add_row(*(c.text(row) for c in table.columns))
        Console(file=self.stream, highlight=False, soft_wrap=False).print(drawn)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
