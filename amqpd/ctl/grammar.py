"""rabbitmqctl's command line: global options before or after the verb, then the verb's own.

The verb is the first word that is neither an option nor an option's value; the rest of the
line is parsed by a parser made of the global options plus the verb's arguments, with options
and positional arguments intermixed (`list_connections -q pid peer_port`). Usage errors exit 64
(argparse's own 2 would read as "no such file" to scripts), `--help` exits 0.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import NoReturn, Sequence

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Formatter
from amqpd.ctl.verb import Verb

PROG = "amqpctl"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are rabbitmqctl's: exit 64."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CtlError(Exit.USAGE, f"Error (argument validation): {message}")


def global_options(verb: str | None = None) -> argparse.ArgumentParser:
    """The options every verb takes, before or after it. For a verb's parser their defaults are
    left out (SUPPRESS), so a value given before the verb is not reset by parsing after it."""
    keep = argparse.SUPPRESS if verb is not None else None
    p = Parser(add_help=False, allow_abbrev=False, argument_default=keep)
    g = p.add_argument_group("global options")
    g.add_argument("-n", "--node", metavar="NODE",
                   help="the broker's node name; amqpctl exits 69 when the broker it reaches has another")
    g.add_argument("-l", "--longnames", action="store_true", help="expand a NODE without @host with the FQDN")
    g.add_argument("-p", "--vhost", metavar="VHOST", help="the virtual host (default /)")
    g.add_argument("-q", "--quiet", action="store_true", help="print no banner")
    g.add_argument("-s", "--silent", action="store_true", help="print no banner and no table header")
    g.add_argument("--no-table-headers", dest="no_table_headers", action="store_true", help="print no table header")
    g.add_argument("--formatter", choices=[f.value for f in Formatter], help="table (default), json, csv, pretty_table")
    g.add_argument("-t", "--timeout", type=float, metavar="SECONDS", help="give up after this long (exit 75)")
    g.add_argument("--data-dir", metavar="DIR", help="the broker's data directory, as given to amqpd")
    g.add_argument("--config", metavar="FILE", help="the broker's TOML config file, as given to amqpd")
    g.add_argument("--url", metavar="URL",
                   help="a remote broker's management API, http://user:pass@host:port (control verbs unavailable)")
    return p


DEFAULTS = {"node": None, "longnames": False, "vhost": "/", "quiet": False, "silent": False,
            "no_table_headers": False, "formatter": Formatter.TABLE.value, "timeout": None,
            "data_dir": None, "config": None, "url": None}


def split(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The verb and every other word (global options of either side included)."""
    takes_value = {flag for action in global_options()._actions if action.nargs is None
                   for flag in action.option_strings}
    rest: list[str] = []
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-") and word != "-":
            rest.append(word)
            if word in takes_value and index + 1 < len(words):
                rest.append(words[index + 1])
                index += 1
        else:
            return word, rest + words[index + 1:]
        index += 1
    return None, rest


def verb_parser(verb: Verb) -> Parser:
    parser = Parser(prog=f"{PROG} {verb.name}", description=verb.summary, allow_abbrev=False,
                    parents=[global_options(verb.name)], conflict_handler="resolve")
    verb.arguments(parser)
    if verb.columns is not None:
        verb.columns.add_to(parser)
    return parser


def parse(verb: Verb, words: Sequence[str]) -> argparse.Namespace:
    args = verb_parser(verb).parse_intermixed_args(words)
    for key, value in DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


def node_name(name: str, longnames: bool = False) -> str:
    """A node name as rabbitmqctl completes it: `rabbit` is `rabbit@<this host>`."""
    if "@" in name:
        return name
    host = socket.getfqdn() if longnames else socket.gethostname().split(".")[0]
    return f"{name}@{host}"


def usage(registry: dict[str, Verb]) -> str:
    groups: dict[str, list[Verb]] = {}
    for verb in registry.values():
        groups.setdefault(verb.group or "Other", []).append(verb)
    lines = ["Usage", "", f"{PROG} [--node <node>] [--timeout <timeout>] [--longnames] [--quiet] "
             "[--data-dir <dir> | --config <file> | --url <url>] <command> [<command options>]",
             "", "Available commands:", ""]
    width = max(len(name) for name in registry) + 2
    for group, verbs in groups.items():
        lines.append(f"{group}:")
        lines.append("")
        lines += [f"   {verb.name:<{width}}{verb.summary}" for verb in sorted(verbs, key=lambda v: v.name)]
        lines.append("")
    lines.append(f"Use '{PROG} help <command>' to learn more about a specific command")
    return "\n".join(lines)
