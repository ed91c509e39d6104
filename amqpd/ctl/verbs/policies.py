"""Policies, operator policies, runtime parameters, global parameters and the cluster name.

A policy's definition and a parameter's value are JSON on the command line, printed back as
compact JSON (a string in the json formatter, as rabbitmqctl has it).
"""

from __future__ import annotations

import argparse
import html
from typing import Any

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import ApiFailure, NotFound, segment
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.common import json_argument, no_parameter, no_vhost, vhost_exists

GROUP = "Policies"
PARAMETERS = "Parameters"


def _rejected(failure: ApiFailure) -> CtlError | ApiFailure:
    """A refused definition: the API's reason, un-escaped (the API escapes it for HTML as RabbitMQ's does)."""
    if failure.status == 400:
        return CtlError(Exit.UNAVAILABLE, f"Error:\n{html.unescape(terms.reason(failure.reason))}")
    return failure


def _cleared(ctx: Context, path: str) -> None:
    try:
        ctx.broker.delete(path)
    except NotFound:
        raise no_parameter() from None


def _listed(ctx: Context, path: str) -> list[dict[str, Any]]:
    try:
        return ctx.broker.listing(path)
    except NotFound:
        raise no_vhost(ctx.vhost) from None


POLICY_COLUMNS = [Column("vhost"), Column("name"), Column("pattern"), Column("apply-to"),
                  Column("definition", lambda item: terms.json_text(item["definition"])), Column("priority")]


def _set_policy(route: str, what: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> None:
        ctx.out.banner(f'Setting {what} "{args.name}" for pattern "{args.pattern}" to "{args.definition}" '
                       f'with priority "{args.priority}" for vhost "{ctx.vhost}" ...')
        body = {"pattern": args.pattern, "definition": json_argument(args.definition),
                "priority": args.priority, "apply-to": args.apply_to}
        try:
            ctx.broker.put(f"/api/{route}/{segment(ctx.vhost)}/{segment(args.name)}", body)
        except ApiFailure as failure:
            raise _rejected(failure) from None
    return run


def _clear_policy(route: str, what: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> None:
        ctx.out.banner(f'Clearing {what} "{args.name}" on vhost "{ctx.vhost}" ...')
        _cleared(ctx, f"/api/{route}/{segment(ctx.vhost)}/{segment(args.name)}")
    return run


def _list_policies(route: str, banner: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> None:
        ctx.out.banner(f'Listing {banner} for vhost "{ctx.vhost}" ...')
        ctx.out.table(Table(POLICY_COLUMNS, _listed(ctx, f"/api/{route}/{segment(ctx.vhost)}"), blank=True))
    return run


def set_parameter(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting runtime parameter "{args.name}" for component "{args.component}" to "{args.value}" '
                   f'in vhost "{ctx.vhost}" ...')
    path = f"/api/parameters/{segment(args.component)}/{segment(ctx.vhost)}/{segment(args.name)}"
    try:
        ctx.broker.put(path, {"value": json_argument(args.value)})
    except ApiFailure as failure:
        raise _rejected(failure) from None


def clear_parameter(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Clearing runtime parameter "{args.name}" for component "{args.component}" '
                   f'on vhost "{ctx.vhost}" ...')
    _cleared(ctx, f"/api/parameters/{segment(args.component)}/{segment(ctx.vhost)}/{segment(args.name)}")


def list_parameters(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Listing runtime parameters for vhost "{ctx.vhost}" ...')
    if not vhost_exists(ctx.broker, ctx.vhost):
        raise no_vhost(ctx.vhost)
    rows = [item for item in ctx.broker.get("/api/parameters") if item.get("vhost") == ctx.vhost]
    columns = [Column("component"), Column("name"), Column("value", lambda item: terms.json_text(item["value"]))]
    ctx.out.table(Table(columns, rows, blank=True))


def set_global_parameter(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting global runtime parameter "{args.name}" to "{args.value}" ...')
    try:
        ctx.broker.put(f"/api/global-parameters/{segment(args.name)}", {"value": json_argument(args.value)})
    except ApiFailure as failure:
        raise _rejected(failure) from None


def clear_global_parameter(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Clearing global runtime parameter "{args.name}" ...')
    _cleared(ctx, f"/api/global-parameters/{segment(args.name)}")


def list_global_parameters(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing global runtime parameters ...")
    columns = [Column("name"), Column("value", lambda item: terms.json_text(item["value"]))]
    ctx.out.table(Table(columns, ctx.broker.get("/api/global-parameters"), blank=True))


def set_cluster_name(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Setting cluster name to {args.name} ...")
    ctx.broker.put("/api/cluster-name", {"name": args.name})


def _policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("pattern", help="regular expression of the queue or exchange names it applies to")
    parser.add_argument("definition", help='a JSON object, e.g. {"max-length": 10}')
    parser.add_argument("--priority", type=int, default=0, help="the highest priority policy applies (default 0)")
    parser.add_argument("--apply-to", dest="apply_to", default="all", help="queues, exchanges or all (default)")


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")


def _parameter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("component")
    parser.add_argument("name")
    parser.add_argument("value", help="JSON")


def _component_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("component")
    parser.add_argument("name")


def _global_parameter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("value", help="JSON")


VERBS = [
    Verb("set_policy", _set_policy("policies", "policy"), "Sets or updates a policy", _policy, group=GROUP),
    Verb("clear_policy", _clear_policy("policies", "policy"), "Clears (removes) a policy", _name, group=GROUP),
    Verb("list_policies", _list_policies("policies", "policies"), "Lists all policies in a virtual host",
         group=GROUP),
    Verb("set_operator_policy", _set_policy("operator-policies", "operator policy override"),
         "Sets an operator policy that overrides a subset of arguments in user policies", _policy, group=GROUP),
    Verb("clear_operator_policy", _clear_policy("operator-policies", "operator policy"),
         "Clears an operator policy", _name, group=GROUP),
    Verb("list_operator_policies", _list_policies("operator-policies", "operator policy overrides"),
         "Lists operator policy overrides for a virtual host", group=GROUP),
    Verb("set_parameter", set_parameter, "Sets a runtime parameter.", _parameter, group=PARAMETERS),
    Verb("clear_parameter", clear_parameter, "Clears a runtime parameter.", _component_name, group=PARAMETERS),
    Verb("list_parameters", list_parameters, "Lists runtime parameters for a virtual host", group=PARAMETERS),
    Verb("set_global_parameter", set_global_parameter, "Sets a runtime parameter.", _global_parameter,
         group=PARAMETERS),
    Verb("clear_global_parameter", clear_global_parameter, "Clears a global runtime parameter", _name,
         group=PARAMETERS),
    Verb("list_global_parameters", list_global_parameters, "Lists global runtime parameters", group=PARAMETERS),
    Verb("set_cluster_name", set_cluster_name, "Sets the cluster name", _name, group="Configuration and Environment"),
]
