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
from typing import Any, NoReturn, Sequence

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Formatter
from amqpd.ctl.verb import Verb

PROG = "amqpctl"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are rabbitmqctl's: exit 64."""

    def error(self, message: str) -> NoReturn:
        raise CtlError(Exit.USAGE, f"Error (argument validation): {_in_rabbitmqctl_words(message)}\n"
                                   f"Arguments given:\n\t{' '.join(sys.argv[1:])}\n\n"
                                   f"Usage\n\n{self.format_usage().strip().removeprefix('usage: ')}")


def _in_rabbitmqctl_words(message: str) -> str:
    """argparse's complaint as rabbitmqctl words the common ones."""
    if message.startswith("the following arguments are required"):
        return "not enough arguments."
    if message.startswith("unrecognized arguments: "):
        extra = message.removeprefix("unrecognized arguments: ").split()
        options = [word for word in extra if word.startswith("-")]
        if options:
            return "Invalid options for this command:\n" + "\n".join(f"{option} : true" for option in options)
        return "too many arguments."
    return message


# The options every verb takes, before or after it: (flags, argparse keywords). Those without an
# `action` take a value, which split() must skip when it looks for the verb.
GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-n", "--node"), {"metavar": "NODE",
                        "help": "the broker's node name; amqpctl exits 69 when the broker it reaches has another"}),
    (("-l", "--longnames"), {"action": "store_true", "help": "expand a NODE without @host with the FQDN"}),
    (("-p", "--vhost"), {"metavar": "VHOST", "default": "/", "help": "the virtual host (default /)"}),
    (("-q", "--quiet"), {"action": "store_true", "help": "print no banner"}),
    (("-s", "--silent"), {"action": "store_true", "help": "print no banner and no table header"}),
    (("--no-table-headers",), {"dest": "no_table_headers", "action": "store_true", "help": "print no table header"}),
    (("--formatter",), {"choices": [f.value for f in Formatter], "default": Formatter.TABLE.value,
                        "help": "table (default), json, csv, pretty_table"}),
    (("-t", "--timeout"), {"type": float, "metavar": "SECONDS", "help": "give up after this long (exit 75)"}),
    (("--data-dir",), {"metavar": "DIR", "help": "the broker's data directory, as given to amqpd"}),
    (("--config",), {"metavar": "FILE", "help": "the broker's TOML config file, as given to amqpd"}),
    (("--url",), {"metavar": "URL",
                  "help": "a remote broker's management API, http://user:pass@host:port (control verbs unavailable)"}),
]
TAKE_VALUE = {flag for flags, keywords in GLOBAL_OPTIONS if "action" not in keywords for flag in flags}


def global_options() -> argparse.ArgumentParser:
    parser = Parser(add_help=False, allow_abbrev=False)
    group = parser.add_argument_group("global options")
    for flags, keywords in GLOBAL_OPTIONS:
        group.add_argument(*flags, **keywords)
    return parser


def split(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The verb and every other word (global options of either side included)."""
    rest: list[str] = []
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-") and word != "-":
            rest.append(word)
            if word in TAKE_VALUE and index + 1 < len(words):
                rest.append(words[index + 1])
                index += 1
        else:
            return word, rest + words[index + 1:]
        index += 1
    return None, rest


def verb_parser(verb: Verb) -> Parser:
    parser = Parser(prog=f"{PROG} {verb.name}", description=verb.summary, allow_abbrev=False,
                    parents=[global_options()], conflict_handler="resolve")
    verb.arguments(parser)
    if verb.columns is not None:
        verb.columns.add_to(parser)
    return parser


def parse(verb: Verb, words: Sequence[str]) -> argparse.Namespace:
    """The verb's arguments and the global options, wherever they stood (a verb's own option of
    the same flag, as peek's -n, wins over the global one)."""
    return verb_parser(verb).parse_intermixed_args(words)


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
