"""Definitions: export_definitions and import_definitions, to a file or `-` (stdout / stdin),
in the JSON of RabbitMQ's export (the management API's GET and POST /api/definitions)."""

from __future__ import annotations

import argparse
import json
import sys

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.transport import ApiFailure
from amqpd.ctl.verb import Context, Verb

GROUP = "Definitions"
STDIO = "-"


def export_definitions(ctx: Context, args: argparse.Namespace) -> None:
    if args.path != STDIO:
        ctx.out.banner(f'Exporting definitions in JSON to a file at "{args.path}" ...')
    definitions = ctx.broker.get("/api/definitions")
    text = json.dumps(definitions, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if args.path == STDIO:
        ctx.out.stream.write(text)  # no line break after it, as rabbitmqctl
        return
    try:
        with open(args.path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CtlError(Exit.DATA_ERROR, f"Error:\n{args.path}: {exc.strerror}") from None


def import_definitions(ctx: Context, args: argparse.Namespace) -> None:
    """The file is read before the broker is reached: a missing one is 65 whether or not the
    broker runs, as rabbitmqctl checks its arguments first."""
    if args.path == STDIO:
        raw = sys.stdin.read()
        where = "standard input"
    else:
        try:
            with open(args.path, encoding="utf-8") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise CtlError(Exit.DATA_ERROR, f"Error (argument validation): Bad argument: File {args.path} "
                                            "does not exist") from None
        except OSError as exc:
            raise CtlError(Exit.DATA_ERROR, f"Error:\n{args.path}: {exc.strerror}") from None
        where = f'a file at "{args.path}"'
    _ = ctx.broker
    ctx.out.banner(f"Importing definitions in JSON from {where} ...")
    try:
        definitions = json.loads(raw)
    except ValueError as exc:
        raise CtlError(Exit.DATA_ERROR, f"Error:\nFailed to deserialise input (format: JSON) (error: {exc})") from None
    try:
        ctx.broker.post("/api/definitions", definitions)
    except ApiFailure as failure:
        if failure.status == 400:
            raise CtlError(Exit.DATA_ERROR, f"Error:\n{terms.reason(failure.reason)}") from None
        raise
    ctx.out.banner("Successfully started definition import. This process is asynchronous and can take some time.")


def _path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help='a JSON file, or "-" for standard input or output')


VERBS = [
    Verb("export_definitions", export_definitions, "Exports definitions in JSON", _path, group=GROUP),
    Verb("import_definitions", import_definitions, "Imports definitions in JSON", _path, group=GROUP,
         connect=False),
]
