"""rabbitmq-plugins' verbs (`amqpctl plugins enable|disable|list`, or amqpctl invoked as
rabbitmq-plugins): amqpd's "plugins" are built in and switched at start (--management,
--prometheus), so enable succeeds for one that is running, and asking to change one at run time
is refused (70) with the option to use instead. Setup scripts (Bunny's, Dockerfiles with
--offline) enable rabbitmq_management and go on.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.verb import Context, Verb

VERSION = "3.10.8"  # the RabbitMQ release whose plugins these stand for


@dataclass(frozen=True)
class Plugin:
    name: str
    protocols: frozenset[str]  # listener protocols (GET /api/overview) that show it running
    option: str  # amqpd's start option for it
    implied_by: str = ""  # enabled implicitly, as a dependency of this one


PLUGINS = [
    Plugin("rabbitmq_management", frozenset({"http", "https"}), "--management"),
    Plugin("rabbitmq_management_agent", frozenset({"http", "https"}), "--management", "rabbitmq_management"),
    Plugin("rabbitmq_prometheus", frozenset({"prometheus", "http/prometheus"}), "--prometheus"),
    Plugin("rabbitmq_web_dispatch", frozenset({"http", "https"}), "--management", "rabbitmq_management"),
]
BY_NAME = {plugin.name: plugin for plugin in PLUGINS}


def _running(ctx: Context) -> set[str]:
    """The node's own word on the control socket (status' active_plugins, where the broker has it);
    else, as over --url, what its listeners show (the Prometheus port is not among them)."""
    if ctx.target.control:
        active = ctx.broker.get("/control/status").get("active_plugins")
        if active is not None:
            return {plugin.name for plugin in PLUGINS if plugin.name in active or plugin.implied_by in active}
    protocols = {item["protocol"] for item in ctx.broker.get("/api/overview")["listeners"]}
    return {plugin.name for plugin in PLUGINS if plugin.protocols & protocols}


def _unknown(names: list[str]) -> CtlError | None:
    missing = [name for name in names if name not in BY_NAME]
    if not missing:
        return None
    return CtlError(Exit.SOFTWARE, "Error:\n{:plugins_not_found, [" + ", ".join(f":{n}" for n in missing) + "]}")


def _configured(ctx: Context, names: list[str]) -> None:
    """rabbitmq-plugins' echo of the configuration: the named plugins and those they imply."""
    ctx.out.banner("The following plugins have been configured:")
    for name in sorted({*names, *(p.name for p in PLUGINS if p.implied_by in names)}):
        ctx.out.banner(f"  {name}")


def plugins(ctx: Context, args: argparse.Namespace) -> None:
    if args.action == "list":
        _list(ctx, args)
        return
    names = args.plugins
    if not names:
        raise CtlError(Exit.USAGE, "Error (argument validation): not enough arguments.")
    verb = "Enabling" if args.action == "enable" else "Disabling"
    ctx.out.banner(f"{verb} plugins on node {ctx.node if args.offline else ctx.broker.node}:")
    for name in names:
        ctx.out.banner(name)
    unknown = _unknown(names)
    if unknown is not None:
        raise unknown
    if args.offline:  # built in: the configuration is what the broker's options say, nothing to write
        ctx.out.banner("Plugin configuration unchanged.")
        return
    running = _running(ctx)
    change = [name for name in names if (name in running) != (args.action == "enable")]
    if change:
        options = sorted({BY_NAME[name].option for name in change})
        flags = ", ".join(options if args.action == "enable" else [f"--no-{o[2:]}" for o in options])
        raise CtlError(Exit.SOFTWARE, f"Error:\namqpd's plugins are built in and cannot be {args.action}d at run time: "
                                      f"start amqpd with {flags}")
    _configured(ctx, names)
    ctx.out.banner(f"Applying plugin configuration to {ctx.node}...")
    ctx.out.banner("Plugin configuration unchanged.")


def _list(ctx: Context, args: argparse.Namespace) -> None:
    pattern = re.compile(args.plugins[0] if args.plugins else ".*")
    running = _running(ctx)
    ctx.out.banner(f'Listing plugins with pattern "{pattern.pattern}" ...')
    shown = [plugin for plugin in PLUGINS if pattern.search(plugin.name)]
    if args.enabled or args.explicit:
        shown = [p for p in shown if p.name in running and (args.enabled or not p.implied_by)]
    if args.minimal:
        for plugin in shown:
            ctx.out.line(plugin.name)
        return
    ctx.out.banner(" Configured: E = explicitly enabled; e = implicitly enabled")
    ctx.out.banner(f" | Status: * = running on {ctx.node}")
    ctx.out.banner(" |/")
    width = max((len(plugin.name) for plugin in shown), default=0)
    for plugin in shown:
        on = plugin.name in running
        mark = ("e" if plugin.implied_by else "E") + "*" if on else "  "
        ctx.out.line(f"[{mark}] {plugin.name:<{width}} {VERSION}")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["enable", "disable", "list"])
    parser.add_argument("plugins", nargs="*", help="plugin names (list: a name pattern)")
    parser.add_argument("--offline", action="store_true", help="do not contact the broker")
    parser.add_argument("--online", action="store_true", help="contact the broker (the default)")
    parser.add_argument("-e", "--enabled", action="store_true", help="list: only enabled plugins")
    parser.add_argument("-E", "--explicit", action="store_true", help="list: only explicitly enabled plugins")
    parser.add_argument("-m", "--minimal", action="store_true", help="list: names only")


VERBS = [
    Verb("plugins", plugins, "rabbitmq-plugins: enable, disable or list plugins (amqpd's are built in)", _arguments,
         group="Plugins", connect=False),
]
