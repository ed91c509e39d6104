"""`amqpctl`: rabbitmqctl's verbs over amqpd's management API.

It finds the local broker the way `amqpd` was started (--data-dir, --config FILE, AMQPD_DATA_DIR
and the other settings amqpd.config reads) and talks to it over the control socket in its data
directory; `--url` reaches a remote broker's API with credentials instead. Invoked under the
name rabbitmq-plugins (a symlink), it is `amqpctl plugins ...`, so scripts that run
rabbitmq-plugins or rabbitmq-diagnostics work unchanged (rabbitmq-diagnostics and rabbitmqctl
share the verb set here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from amqpd import config
from amqpd.ctl import grammar
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Formatter, Output
from amqpd.ctl.transport import ApiFailure, Broker, Target
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs import REGISTRY
from amqpd.settings import ConfigError

DEFAULT_TIMEOUT = 60.0  # seconds; rabbitmqctl's for list verbs
ALIASES = {"rabbitmq-plugins": ["plugins"]}  # invocation names that imply a leading verb


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(list(sys.argv[1:] if argv is None else argv), Path(sys.argv[0]).name))


def run(argv: list[str], invoked_as: str = grammar.PROG) -> int:
    argv = ALIASES.get(invoked_as, []) + argv
    try:
        return _run(argv)
    except CtlError as exc:
        _error(exc.message)
        return exc.code
    except ApiFailure as failure:  # what a verb did not map: rabbitmqctl's `{:error, _}` default
        _error(f"Error:\n{failure.reason or failure.error}")
        return Exit.UNAVAILABLE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except BrokenPipeError:  # `amqpctl list_queues | head`
        sys.stderr.close()
        return Exit.OK


def _run(argv: list[str]) -> int:
    name, words = grammar.split(argv)
    if name is None:
        asked = "-h" in words or "--help" in words
        (sys.stdout if asked else sys.stderr).write(grammar.usage(REGISTRY) + "\n")
        return Exit.OK if asked else Exit.USAGE
    if name == "help":
        return _help(words)
    verb = REGISTRY.get(name)
    if verb is None:
        sys.stderr.write(f"Command '{name}' not found. \n\n{grammar.usage(REGISTRY)}\n")
        return Exit.USAGE
    args = grammar.parse(verb, words)
    if verb.columns is not None:
        verb.columns.chosen(args)
    target, node = locate(args)
    out = Output(Formatter(args.formatter), quiet=args.quiet, silent=args.silent,
                 headers=not args.no_table_headers)
    context = Context(args, out, target, node, lambda: connect(args, target, node))
    try:
        if verb.control and not target.control:
            raise CtlError(Exit.UNAVAILABLE, f"Error: {verb.name} is served only on the broker's control socket "
                                             "(run amqpctl on the broker's host); it is not available over --url")
        if verb.connect:
            _ = context.broker
        verb.run(context, args)
    finally:
        context.close()
    sys.stdout.flush()
    return Exit.OK


def _help(words: list[str]) -> int:
    topic, _ = grammar.split(words)
    if topic is None:
        sys.stdout.write(grammar.usage(REGISTRY) + "\n")
        return Exit.OK
    verb = REGISTRY.get(topic)
    if verb is None:
        sys.stderr.write(f"Command '{topic}' not found. \n\n{grammar.usage(REGISTRY)}\n")
        return Exit.USAGE
    grammar.verb_parser(verb).print_help(sys.stdout)
    return Exit.OK


def locate(args: argparse.Namespace) -> tuple[Target, str]:
    """Where the broker is, and the node name to use in messages until it answers."""
    named = grammar.node_name(args.node, args.longnames) if args.node else None
    if args.url:
        return Target(url=args.url), named or args.url
    try:
        file_values = config.load_file(args.config) if args.config else {}
        settings = config.build(file_values, {"data_dir": args.data_dir})
    except ConfigError as exc:
        raise CtlError(Exit.CONFIG, f"Error: {exc}") from None
    return Target(socket=settings.control_socket()), named or settings.node_name or grammar.node_name("amqpd")


def connect(args: argparse.Namespace, target: Target, node: str) -> Broker:
    """The broker, asked its node name: a broker that is not there, refuses the credentials, or
    is another node than -n names is rabbitmqctl's "unable to perform an operation" (69)."""
    broker = Broker(target, node, args.timeout or DEFAULT_TIMEOUT)
    try:
        actual = broker.get("/api/overview", columns="node")["node"]
    except ApiFailure as failure:
        broker.close()
        raise broker.unreachable(f"the broker refused amqpctl: {failure.reason or failure.status}") from None
    except CtlError:
        broker.close()
        raise
    if args.node and actual != node:
        broker.close()
        raise broker.unreachable(f"the broker at {target.describe()} is node '{actual}'")
    broker.node = actual
    return broker


def _error(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
