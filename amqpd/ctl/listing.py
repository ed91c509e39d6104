"""The column arguments of the list verbs: which columns a verb knows, which it prints by
default, and rabbitmqctl's usage error for an unknown one."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Column, Table


@dataclass(frozen=True)
class Columns:
    known: Sequence[Column]
    default: Sequence[str]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        names = " ".join(column.name for column in self.known)
        parser.add_argument("columns", nargs="*", metavar="column",
                            help=f"columns to print (default: {' '.join(self.default)}); any of: {names}")

    def chosen(self, args: argparse.Namespace) -> list[Column]:
        by_name = {column.name: column for column in self.known}
        names = args.columns or list(self.default)
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise CtlError(Exit.USAGE, f"Error (argument validation): Info key(s) {','.join(unknown)} "
                                       "are not supported")
        return [by_name[name] for name in names]

    def table(self, args: argparse.Namespace, rows: Sequence[Mapping[str, Any]], blank: bool = False) -> Table:
        return Table(self.chosen(args), rows, blank)
