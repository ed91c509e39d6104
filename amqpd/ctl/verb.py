"""A verb: its name, its arguments, and what it does with the broker; the Context it runs in.

A verb module (amqpd/ctl/verbs/<group>.py) defines functions `run(ctx, args)` and lists them
as `VERBS = [Verb(...), ...]`; amqpd/ctl/verbs/__init__.py names the modules. A verb prints
through `ctx.out` and fails by raising CtlError (or letting an ApiFailure through, which ends
as 69 with the broker's reason, rabbitmqctl's default for an `{:error, _}`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Output
from amqpd.ctl.transport import Broker, Target

Arguments = Callable[[argparse.ArgumentParser], None]


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of a verb that takes none besides the global options."""


@dataclass(frozen=True)
class Verb:
    name: str
    run: Callable[[Context, argparse.Namespace], None]
    summary: str
    arguments: Arguments = no_arguments
    columns: Columns | None = None  # a list verb's column arguments (checked before the broker is reached)
    group: str = ""
    control: bool = False  # served only on the control socket: over --url it exits 69
    connect: bool = True  # reach the broker (and check -n) before `run`; False: the verb does it itself


class Context:
    """What a running verb has: the parsed options, the output, and the broker once reached."""

    def __init__(self, args: argparse.Namespace, out: Output, target: Target, node: str,
                 open_broker: Callable[[], Broker]) -> None:
        self.args = args
        self.out = out
        self.target = target
        self.node = node  # the node as named by -n or the settings; the broker's own once reached
        self._open = open_broker
        self._broker: Broker | None = None

    @property
    def vhost(self) -> str:
        return self.args.vhost

    @property
    def broker(self) -> Broker:
        """The broker, reached (and checked against -n) on first use."""
        if self._broker is None:
            self._broker = self._open()
            self.node = self._broker.node
        return self._broker

    def close(self) -> None:
        if self._broker is not None:
            self._broker.close()
